"""Identity: accounts and passwords (argon2), login tokens (PyJWT), and the keyring that keeps a
login."""

"""The session core: storage, identity, generation and export, with no UI and no HTTP."""

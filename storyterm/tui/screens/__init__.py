"""The app's screens: the main room, the forms and editors, the dialogs."""

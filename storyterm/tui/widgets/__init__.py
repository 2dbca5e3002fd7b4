"""The main screen's widgets: each small, fed by reactives, talking upward with messages."""

"""The API's routers, one module per area (auth, story, sessions, models, health)."""

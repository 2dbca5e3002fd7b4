"""Storage: the database (tables, engine, migrations), the Store that alone writes both the
database and Redis, the Redis hot cache, and the SQLAlchemy-free first look the TUI's first frame
reads."""

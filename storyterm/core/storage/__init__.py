"""Storage: the database (tables, engine, migrations), the Store that alone writes both the
database and Redis, and the Redis hot cache."""

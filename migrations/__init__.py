"""Alembic migrations, shipped inside the package so an installed storyterm can migrate."""

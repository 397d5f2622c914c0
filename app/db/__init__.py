"""Database layer: models, engine and the migration runner."""

"""The case store: SQLAlchemy models, sessions and Alembic migrations. Never imported by workflow code."""

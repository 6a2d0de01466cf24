"""Central database: SQLAlchemy Core schema, engines for SQLite and PostgreSQL, Alembic migrations."""

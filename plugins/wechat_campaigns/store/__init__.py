"""The campaign store: our own database (SQLite by default, PostgreSQL in production)."""

"""The relational schema as SQLAlchemy Core tables, one module per feature."""

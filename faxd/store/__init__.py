"""The Store seam: PostgreSQL, always (tests use a real database too)."""
from faxd.store.postgres import PostgresStore  # noqa: F401

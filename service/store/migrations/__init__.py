"""Alembic migrations of the sample store (run by ``service.store.database.migrate``)."""

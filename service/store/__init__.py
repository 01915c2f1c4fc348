"""The opt-in sample store: each prediction's 28x28, probabilities and model, and the user's correction.

Off unless ``DIGITS_STORE_URL`` is set; then nothing here is imported either (``service.app`` imports this
package only when the store is on), so a service without the store never loads SQLAlchemy nor touches a
database. One code path for SQLite (embedded, WAL mode) and PostgreSQL (several replicas):

- ``schema``: the one table, ``samples`` (SQLAlchemy Core); migrations (Alembic) in ``migrations/``;
- ``database``: engines, ``migrate()`` (serialised by an advisory lock on PostgreSQL), the revision check;
- ``writer``: the bounded queue and the background thread that writes off the request path, enforces
  retention and refreshes the live figures;
- ``queries``: feedback, the summary, the figures, the samples training reads back.

Needs the ``store`` extra: ``pip install 'digits-service[store]'``.
"""

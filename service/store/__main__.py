"""``python -m service.store``: migrate the sample store's schema, or delete everything in it.

    python -m service.store migrate  --store-url URL   # schema to the newest revision (safe to repeat)
    python -m service.store purge    --store-url URL   # delete every stored sample and its feedback
    python -m service.store drop     --store-url URL   # remove the table and Alembic's version table

The URL defaults to DIGITS_STORE_URL.
"""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import text

from service.store import database
from service.store.schema import samples


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m service.store", description=__doc__.splitlines()[0])
    cli.add_argument("action", choices=("migrate", "purge", "drop"))
    cli.add_argument(
        "--store-url", default=os.environ.get("DIGITS_STORE_URL", ""), help="[env DIGITS_STORE_URL]"
    )
    args = cli.parse_args(argv)
    if not args.store_url:
        print("python -m service.store: no store: give --store-url or set DIGITS_STORE_URL", file=sys.stderr)
        return 2
    try:
        engine = database.create_store_engine(args.store_url)
        if args.action == "migrate":
            revision = database.migrate(engine)
            print(f"sample store at revision {revision}: {database.safe_url(args.store_url)}")
        elif args.action == "purge":
            database.check_revision(engine)
            with engine.begin() as connection:
                deleted = connection.execute(samples.delete()).rowcount
            print(f"deleted {deleted} samples: {database.safe_url(args.store_url)}")
        else:
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS samples"))
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            print(f"dropped the sample store's tables: {database.safe_url(args.store_url)}")
    except database.StoreError as exc:
        print(f"python -m service.store: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the database refused or is down: one line, no traceback
        print(
            f"python -m service.store: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

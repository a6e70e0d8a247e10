"""Reading a PostgreSQL database as of one instant across several short transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from django.db import connection, transaction


@contextlib.contextmanager
def frozen_reads() -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """Yield ``reading``: every ``with reading():`` block sees the database exactly as it was when ``frozen_reads``
    began, although other work (progress updates, say) commits between the blocks.

    How: a second connection opens a REPEATABLE READ transaction and exports its snapshot (``pg_export_snapshot``);
    each block is a REPEATABLE READ transaction that imports it (``SET TRANSACTION SNAPSHOT``). This needs
    PostgreSQL and no transaction already open on the connection; otherwise (SQLite in the demo, a test wrapped in
    a transaction) the blocks are plain and each read sees the current state. ``frozen`` on the yielded function
    says which.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield _plain_reading
        return
    import psycopg

    connection.ensure_connection()
    holder = connection.get_new_connection(connection.get_connection_params())
    try:
        holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snapshot_id = holder.execute("SELECT pg_export_snapshot()").fetchone()[0]

        @contextlib.contextmanager
        def reading() -> Iterator[None]:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot_id])
                yield

        reading.frozen = True
        yield reading
    finally:
        holder.rollback()
        holder.close()


@contextlib.contextmanager
def _plain_reading() -> Iterator[None]:
    yield


_plain_reading.frozen = False

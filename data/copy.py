"""Bulk loading with PostgreSQL COPY inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    on_row: Callable[[int], None] | None = None,
    every: int = 10_000,
) -> int:
    """COPY ROWS into TABLE(COLUMNS) on the connection's open transaction; returns the count."""
    cursor = conn.connection.driver_connection.cursor()
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
            if on_row and count % every == 0:
                on_row(every)
    if on_row:
        on_row(count % every)
    return count

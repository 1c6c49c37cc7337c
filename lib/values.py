"""A table of rows in a statement: ``UPDATE … FROM (VALUES …) AS v`` on PostgreSQL and SQLite.

One statement writes a batch's per-row values, instead of one UPDATE per row. PostgreSQL names
and types the columns (``AS v (id, state)``, ``%s::bigint``); SQLite names them ``column1…``,
so it selects them under their names.
"""

from django.db import connection


def values_table(columns: list[tuple[str, str]], rows: list[tuple]) -> tuple[str, list]:
    """SQL for ``rows`` as a table ``v`` with ``columns`` ``[(name, postgresql type), …]``,
    and its parameters; put it after FROM."""
    params = [value for row in rows for value in row]
    if connection.vendor == "postgresql":
        row = "(" + ", ".join(f"%s::{kind}" for _, kind in columns) + ")"
        names = ", ".join(name for name, _ in columns)
        return f"(VALUES {', '.join([row] * len(rows))}) AS v ({names})", params
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(f"column{i} AS {name}" for i, (name, _) in enumerate(columns, 1))
    return f"(SELECT {names} FROM (VALUES {', '.join([row] * len(rows))})) AS v", params

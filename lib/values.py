"""A table of rows in a statement: ``UPDATE … FROM <rows> AS v`` on PostgreSQL and SQLite.

One statement writes a batch's per-row values, instead of one UPDATE per row. On PostgreSQL the
rows travel as one typed array per column (``unnest(%s::bigint[], %s::varchar[]) AS v (id,
state)``): a handful of parameters whatever the batch's size, where a VALUES list has one per
value (a thousand rows of nine columns cost more time quoting 9,000 parameters than the
database takes to write them). SQLite gets a VALUES list, its columns named ``column1…`` and
selected under their names.
"""

from django.db import connection


def values_table(columns: list[tuple[str, str]], rows: list[tuple]) -> tuple[str, list]:
    """SQL for ``rows`` as a table ``v`` with ``columns`` ``[(name, postgresql type), …]``,
    and its parameters; put it after FROM."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        names = ", ".join(name for name, _ in columns)
        return f"unnest({arrays}) AS v ({names})", columns_of(rows, len(columns))
    params = [value for row in rows for value in row]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(f"column{i} AS {name}" for i, (name, _) in enumerate(columns, 1))
    return f"(SELECT {names} FROM (VALUES {', '.join([row] * len(rows))})) AS v", params


def columns_of(rows: list[tuple], width: int) -> list[list]:
    """The rows as one list per column (each becomes a PostgreSQL array)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width

"""Set-based writes of many rows without model instances: one statement, one array per column.

The supplementary SMS engine writes a thousand SmsMessage rows per batch and completes them
after the provider answers. Model instances (``bulk_create`` / ``bulk_update``) and one
placeholder per value cost far more in Python and in psycopg than the statements cost in
PostgreSQL; here every column travels as one array literal (``lib.pgarrays``) through
``unnest``, so the statement text is the same for every batch. Other databases (SQLite in
development) fall back to the ORM.

Values are plain column values (str, int, bool, datetime, None); foreign keys by attname
(``account_id``).
"""

import psycopg
from django.db import connection

from lib.pgarrays import literal


def _cursor():
    """A psycopg cursor on Django's connection (in its transaction) that binds parameters on
    the server: the statement is prepared once, and the literals are not quoted again."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _column(field) -> str:
    return connection.ops.quote_name(field.column)


def _array_type(field) -> str:
    return f"{field.cast_db_type(connection)}[]"


def insert_rows(model, common: dict, varying: dict[str, list]) -> list[int]:
    """Insert one row per position of the ``varying`` lists (all of one length); every other
    column takes its value from ``common`` or else the field's default. Returns the primary
    keys in insertion order."""
    meta = model._meta
    lengths = {len(values) for values in varying.values()}
    if len(lengths) != 1:
        raise ValueError("varying columns must be lists of one length")
    count = lengths.pop()
    if not count:
        return []
    if connection.vendor != "postgresql":
        objs = [
            model(**common, **{name: values[i] for name, values in varying.items()})
            for i in range(count)
        ]
        model.objects.bulk_create(objs)
        return [obj.pk for obj in objs]
    varying_fields = {meta.get_field(name).attname: values for name, values in varying.items()}
    common_fields = {meta.get_field(name).attname: value for name, value in common.items()}
    columns, selects, params, arrays = [], [], [], []
    for field in meta.concrete_fields:
        if field.primary_key or field.generated:  # the database computes generated columns
            continue
        columns.append(_column(field))
        if field.attname in varying_fields:
            selects.append(f"u.c{len(arrays)}")
            arrays.append((field, varying_fields[field.attname]))
            continue
        value = common_fields.get(field.attname, field.get_default())
        selects.append(f"%s::{field.cast_db_type(connection)}")
        params.append(field.get_db_prep_save(value, connection))
    params += [literal(values) for _, values in arrays]
    unnest = ", ".join(f"%s::{_array_type(field)}" for field, _ in arrays)
    aliases = ", ".join(f"c{i}" for i in range(len(arrays)))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(selects)} FROM unnest({unnest}) AS u({aliases}) "
        f"RETURNING {_column(meta.pk)}"
    )
    with _cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(sql, params)
        # Rows come back in insertion order (as Django's own bulk_create relies on).
        return [row[0] for row in cursor.fetchall()]


def update_rows(model, pks: list[int], values: dict[str, list]) -> int:
    """Set each row's columns (matched by primary key, position by position) in one statement."""
    if not pks:
        return 0
    meta = model._meta
    if connection.vendor != "postgresql":
        names = list(values)
        objs = [
            model(pk=pk, **{name: values[name][i] for name in names}) for i, pk in enumerate(pks)
        ]
        return model.objects.bulk_update(objs, names)
    fields = [(meta.get_field(name), column) for name, column in values.items()]
    key = _column(meta.pk)
    assignments = ", ".join(f"{_column(f)} = v.{_column(f)}" for f, _ in fields)
    unnest = ", ".join(f"%s::{_array_type(f)}" for f in [meta.pk, *[f for f, _ in fields]])
    aliases = ", ".join([key, *[_column(f) for f, _ in fields]])
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({unnest}) AS v({aliases}) WHERE t.{key} = v.{key}"
    )
    with _cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(sql, [literal(pks), *[literal(column) for _, column in fields]])
        return cursor.rowcount

"""Set-based updates of many rows with different values: one ``UPDATE … FROM (VALUES …)``.

Django's ``bulk_update`` builds a CASE expression per field and row, which costs far more in
Python than the statement costs in the database; this builds the VALUES list directly. Other
databases (SQLite in development) fall back to ``bulk_update``.
"""

from django.db import connection


def update_rows(model, objs, fields: list[str]) -> int:
    """Write ``fields`` of each object in ``objs`` (matched by primary key) in one statement."""
    objs = list(objs)
    if not objs:
        return 0
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objs, fields)
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    casts = [f"%s::{pk.db_type(connection)}"] + [
        f"%s::{field.db_type(connection)}" for field in columns
    ]
    row = "(" + ", ".join(casts) + ")"
    params = []
    for obj in objs:
        params.append(obj.pk)
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = v.{connection.ops.quote_name(f.column)}"
        for f in columns
    )
    table, key = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(pk.column)
    sql = (
        f"UPDATE {table} AS t SET {assignments} "
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS v({key}, {names}) "
        f"WHERE t.{key} = v.{key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert_rows(model, objs, varying: list[str]) -> None:
    """Insert objects that differ only in the ``varying`` fields, in one statement, and set
    their primary keys.

    Every other field is taken from the first object and sent once; the varying ones go as one
    array each through ``unnest``. Rows come back in insertion order (as Django's own
    ``bulk_create`` relies on for PostgreSQL).
    """
    objs = list(objs)
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    varying_set = set(varying)
    first = objs[0]
    columns, selects, params = [], [], []
    arrays = []
    for field in fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.name in varying_set:
            selects.append(f"u.c{len(arrays)}")
            arrays.append(field)
        else:
            selects.append(f"%s::{field.db_type(connection)}")
            params.append(field.get_db_prep_save(getattr(first, field.attname), connection))
    unnest_args = ", ".join(f"%s::{f.db_type(connection)}[]" for f in arrays)
    aliases = ", ".join(f"c{i}" for i in range(len(arrays)))
    for field in arrays:
        params.append([field.get_db_prep_save(getattr(o, field.attname), connection) for o in objs])
    table = connection.ops.quote_name(meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selects)} "
        f"FROM unnest({unnest_args}) AS u({aliases}) "
        f"RETURNING {connection.ops.quote_name(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, connection.alias

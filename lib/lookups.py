"""``field__any=[...]``: membership in a list, sent to PostgreSQL as one array parameter.

``field__in=[...]`` puts one placeholder per value in the SQL. For the thousand-row batches of
the supplementary SMS engine that makes every statement text different and long, so psycopg
re-parses it each time (it caches statements of at most 50 parameters) and PostgreSQL plans a
1,000-item list; ``= ANY(%s)`` is one parameter and one cached statement. Other databases
(SQLite in development) get the ordinary ``IN`` list. The array travels as a literal
(``pgarrays``), and values that already have the column's Python type are not prepared one by
one.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup

from .pgarrays import literal

# Column types whose values, once of this Python type, need no preparation.
PLAIN = {
    "AutoField": int,
    "BigAutoField": int,
    "BigIntegerField": int,
    "IntegerField": int,
    "PositiveIntegerField": int,
    "PositiveBigIntegerField": int,
    "PositiveSmallIntegerField": int,
    "SmallIntegerField": int,
    "CharField": str,
    "TextField": str,
}


def _plain(field, values) -> bool:
    if field.many_to_one:  # a foreign key holds its target's values
        field = field.target_field
    kind = PLAIN.get(field.get_internal_type())
    return kind is not None and set(map(type, values)) <= {kind}


@ForeignObject.register_lookup
@Field.register_lookup
class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        field = self.lhs.output_field
        if _plain(field, self.rhs):
            return list(self.rhs)
        return [field.get_prep_value(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = self.rhs
        if not _plain(field, values):
            values = [field.get_db_prep_value(v, connection, prepared=True) for v in values]
        if connection.vendor == "postgresql":
            # The cast types the literal, and keeps an index on the column usable.
            return (
                f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])",
                [*params, literal(values)],
            )
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]

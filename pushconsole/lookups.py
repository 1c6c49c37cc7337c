"""``field__any=[...]``: membership in a list, sent to PostgreSQL as one array parameter.

``field__in=[...]`` puts one placeholder per value in the SQL. For the thousand-row batches of
the supplementary SMS engine that makes every statement text different and long, so psycopg
re-parses it each time (it caches statements of at most 50 parameters) and PostgreSQL plans a
1,000-item list; ``= ANY(%s)`` is one parameter and one cached statement. Other databases
(SQLite in development) get the ordinary ``IN`` list.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


@ForeignObject.register_lookup
@Field.register_lookup
class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [self.lhs.output_field.get_prep_value(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        if connection.vendor == "postgresql":
            # The cast keeps an index on the column usable whatever type psycopg guessed.
            return f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])", [*params, values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]

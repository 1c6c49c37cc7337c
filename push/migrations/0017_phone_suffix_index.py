"""The device list's search by the last digits of a phone number (``push.views.devices``):
an index on the reversed number, so that "ends with 2222" is the prefix match
``reverse(account) LIKE '2222%'`` that a B-tree serves, not a scan of every binding.

Partial (phone bindings only, account type 1002) and led by the application, as the list asks
for the account's applications. ``text_pattern_ops`` makes the LIKE prefix usable under any
collation. PostgreSQL only: a development SQLite database scans, which is fine at its size.
"""

from django.db import migrations

INDEX = "push_account_phone_suffix_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON push_deviceaccount "
            "(application_id, reverse(account) text_pattern_ops) WHERE account_type = 1002"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("push", "0016_inbox_seq")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

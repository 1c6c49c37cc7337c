# Schema only: sms names its sources generically (``sms.sources``). The source types' choices
# become a callable (no SQL), and the index of messages by session context covers every message
# with a source id instead of naming ``push_delivery``: the same rows (API messages have no
# source id, every push delivery's has one).

import sms.sources
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0003_live_flag_and_reconcile_checkpoint"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="smsmessage",
            name="sms_message_push_idx",
        ),
        migrations.AlterField(
            model_name="smsmessage",
            name="source_type",
            field=models.CharField(choices=sms.sources.choices, default="api", max_length=20),
        ),
        migrations.AddIndex(
            model_name="smsmessage",
            index=models.Index(
                condition=models.Q(("source_id__isnull", False)),
                fields=["session_context", "source_id"],
                name="sms_message_context_idx",
            ),
        ),
    ]

# Fan-out in chunks (push progress fields), the (application, id) device index it walks, and a
# token-prefix index for the console search.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("push", "0003_push_expiry_sweep"),
    ]

    operations = [
        migrations.AddField(
            model_name="push",
            name="fanned_out_to",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="push",
            name="fanout_chunk_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="device",
            name="application",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="devices",
                to="push.application",
            ),
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["application", "id"], name="push_device_app_idx"),
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(
                fields=["application", "token"],
                name="push_device_token_prefix_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
    ]

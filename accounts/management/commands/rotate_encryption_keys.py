from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import crypto


class Command(BaseCommand):
    help = (
        "Re-seal every encrypted column under the newest key in FIELD_ENCRYPTION_KEYS. "
        "Put the new key first, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        for path in crypto.SEALED_FIELDS:
            label, field = path.rsplit(".", 1)
            model = apps.get_model(label)
            count = 0
            with transaction.atomic():
                rows = model.objects.select_for_update().exclude(**{field: ""})
                for pk, token in rows.values_list("pk", field).iterator():
                    model.objects.filter(pk=pk).update(**{field: crypto.reseal(token)})
                    count += 1
            self.stdout.write(f"{path}: {count} re-sealed")

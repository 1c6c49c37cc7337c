from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import crypto

BATCH_SIZE = 1000


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
                batch = []
                for pk, token in rows.values_list("pk", field).iterator(chunk_size=BATCH_SIZE):
                    batch.append(model(pk=pk, **{field: crypto.reseal(token)}))
                    if len(batch) >= BATCH_SIZE:
                        count += self._write(model, field, batch)
                        batch = []
                count += self._write(model, field, batch)
            self.stdout.write(f"{path}: {count} re-sealed")

    @staticmethod
    def _write(model, field, batch) -> int:
        if batch:
            model.objects.bulk_update(batch, [field], batch_size=BATCH_SIZE)
        return len(batch)

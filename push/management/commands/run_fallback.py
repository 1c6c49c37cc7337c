import time

from django.core.management.base import BaseCommand

from push import fallback
from push.models import SweepRun


class Command(BaseCommand):
    help = "Decide due supplementary-SMS deliveries now (the minute sweep, on demand)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sweeping until Ctrl-C")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between sweeps")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="default: FALLBACK_BATCH_SIZE"
        )

    def handle(self, *args, loop, interval, batch_size, **options):
        while True:
            totals = fallback.sweep(batch_size=batch_size)
            SweepRun.record("fallback", totals)
            self.stdout.write(
                " ".join(f"{k}={v}" for k, v in sorted(totals.items())) or "nothing due"
            )
            if not loop:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return

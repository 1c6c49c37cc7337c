import time

from django.core.management.base import BaseCommand

from push import sender
from push.models import SweepRun


class Command(BaseCommand):
    help = "Hand queued deliveries to APNs and FCM now (the sender stage, on demand)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sending until Ctrl-C")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between runs")

    def handle(self, *args, loop, interval, **options):
        while True:
            totals = sender.run()
            SweepRun.record("sender", totals)
            self.stdout.write(" ".join(f"{k}={v}" for k, v in sorted(totals.items())))
            if not loop:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return

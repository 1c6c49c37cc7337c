"""For `make run`: every few minutes, push to the demo app's devices with supplementary SMS,
through the same code path as /v3/push/app, so the console has live figures to show."""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from push.models import Application, Device
from push.tpns import TpnsError
from push.tpns.submit import submit

from .seed_demo import DEMO_APP


class Command(BaseCommand):
    help = "Send a demo push with supplementary SMS to the demo app every --interval seconds."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=300)
        parser.add_argument("--count", type=int, default=0, help="pushes to send (0 = forever)")

    def handle(self, *args, interval, count, **options):
        sent = 0
        time.sleep(20)  # let the simulated devices register first
        while not count or sent < count:
            app = Application.objects.filter(name=DEMO_APP).first()
            if app and Device.objects.filter(application=app).exists():
                try:
                    push = submit(app, self.body(sent), now=timezone.now())
                    self.stdout.write(f"demo push {push.pk} to {push.targets} devices")
                    sent += 1
                except TpnsError as exc:
                    self.stderr.write(f"demo push refused: {exc.message}")
            try:
                time.sleep(interval if sent else 15)
            except KeyboardInterrupt:
                return

    @staticmethod
    def body(n: int) -> dict:
        return {
            "audience_type": "all",
            "message_type": "notify",
            "message": {"title": "Approval waiting", "content": f"Expense report {n + 42}"},
            "resend_by_sms": True,
            "sms_info": {
                "delay_trigger_time": 300,
                "trigger_condition": 1,
                "sms_app_id": "1400006666",
                "sms_template_id": "449739",
                "sms_template_params": [f"报销单 {n + 42}", "明天"],
            },
        }

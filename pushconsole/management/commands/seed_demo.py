from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Membership, Role
from push.models import Application, Platform
from sms.models import Package, Region, Signature, SmsApplication, Template

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-pushconsole"
DEMO_ACCOUNT = "Demo Organization"
DEMO_APP = "Demo Android app"


class Command(BaseCommand):
    help = "Create the demo organization, its owner login and SMS set-up, once (safe to re-run)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={"email": "demo@example.com", "is_staff": True, "is_superuser": True},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        account, _ = Account.objects.get_or_create(
            name=DEMO_ACCOUNT, defaults={"identity": Account.Identity.ORGANIZATION}
        )
        Membership.objects.get_or_create(user=user, account=account, defaults={"role": Role.OWNER})
        self._sms(account, user)
        state = "created" if created else "already there"
        self.stdout.write(f"Demo login ({state}): {DEMO_USERNAME} / {DEMO_PASSWORD}")
        app, secret = self._app(account)
        self.stdout.write(
            f"Demo push application: AccessID {app.access_id}, AccessKey {app.access_key}"
            + (
                f", SecretKey {secret} (shown once; rotate it in the console)"
                if secret
                else " (its SecretKey was shown on the first run; rotate it in the console)"
            )
        )

    def _app(self, account):
        app = Application.objects.filter(account=account, name=DEMO_APP).first()
        if app:
            return app, None
        return Application.objects.create_for(account, name=DEMO_APP, platform=Platform.ANDROID)

    def _sms(self, account, user):
        """An SMS application, an approved signature and template, and a package."""
        SmsApplication.objects.get_or_create(
            account=account, sdk_app_id="1400006666", defaults={"name": "Demo SMS app"}
        )
        if not Signature.objects.filter(account=account).exists():
            sig = Signature.objects.create(
                account=account, text="推送演示", region=Region.MAINLAND, created_by=user
            )
            sig.decide(approve=True, by=user, reason="")
        if not Template.objects.filter(account=account).exists():
            template = Template.objects.create(
                account=account,
                code="449739",
                name="Approval waiting",
                content="您有一条待审批：{1}，请在{2}前处理。",
                created_by=user,
            )
            template.decide(approve=True, by=user)
        if not Package.objects.filter(account=account).exists():
            now = timezone.now()
            Package.objects.create(
                account=account,
                region=Region.MAINLAND,
                quantity=1000,
                valid_until=now + timedelta(days=365),
                note="Demo package",
                created_by=user,
            )

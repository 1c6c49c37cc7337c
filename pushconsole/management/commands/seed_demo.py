from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Account, Membership, Role

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-pushconsole"
DEMO_ACCOUNT = "Demo Organization"


class Command(BaseCommand):
    help = "Create the demo organization and its owner login, once (safe to run again)."

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
        state = "created" if created else "already there"
        self.stdout.write(f"Demo login ({state}): {DEMO_USERNAME} / {DEMO_PASSWORD}")

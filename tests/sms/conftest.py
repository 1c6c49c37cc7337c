"""SMS fixtures on top of the personas: an SMS-ready organization."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from sms.models import Package, Region, Signature, SmsApplication, Template


@dataclass
class SmsSetup:
    account: object
    application: SmsApplication
    signature: Signature
    template: Template
    package: Package


def approved(item, reviewer):
    item.decide(approve=True, by=reviewer)
    item.refresh_from_db()
    return item


def ready_account(account, reviewer, *, quantity=1000, sdk_app_id="1400006666"):
    application = SmsApplication.objects.create(account=account, sdk_app_id=sdk_app_id)
    signature = approved(
        Signature.objects.create(account=account, text="腾讯云", region=Region.MAINLAND), reviewer
    )
    template = approved(
        Template.objects.create(
            account=account,
            template_id="449739",
            name="Approval",
            content="您有一条待审批：{1}，请在{2}前处理。",
        ),
        reviewer,
    )
    package = Package.objects.create(
        account=account,
        region=Region.MAINLAND,
        quantity=quantity,
        valid_until=timezone.now() + timedelta(days=365),
    )
    return SmsSetup(account, application, signature, template, package)

"""SMS fixtures on top of the personas: an SMS-ready organization, and sending from it."""

import base64
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import TencentCloudAuthorization
from sms.models import Package, Region, Signature, SmsApplication, Template
from sms.sending import prepare, send
from tests.conftest import SECRET_ID, SECRET_KEY

NUMBER = "+8613711112222"
PARAMS = ("报销单 42", "明天")
# The smallest PNG there is: a 1×1 transparent pixel (a proof document reviewers can open).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def proof_file(data: bytes = PNG, name: str = "proof.png") -> ContentFile:
    """A proof document to create a Signature (proof_image) or IdentityApplication (proof) with."""
    return ContentFile(data, name=name)


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded files go to a directory of this test."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


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
            code="449739",
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


def order(sms, numbers=(NUMBER,), params=PARAMS, **kw):
    """Prepare a send of the SmsSetup's template from its application."""
    return prepare(
        sms.account,
        sdk_app_id=sms.application.sdk_app_id,
        template_id=sms.template.code,
        params=params,
        numbers=numbers,
        **kw,
    )


def send_one(sms, number=NUMBER, *, params=PARAMS, now=None):
    """Prepare and send one SMS; returns its SmsMessage."""
    [message] = send(order(sms, numbers=[number], params=params), now=now)
    return message


def authorize(account, secret_id=SECRET_ID, secret_key=SECRET_KEY, confirmed=True):
    """Store the account's Tencent Cloud key pair, marked confirmed without calling Tencent."""
    auth = account.authorize_tencent_cloud(secret_id=secret_id, secret_key=secret_key, by=None)
    if confirmed:
        auth.status = TencentCloudAuthorization.Status.CONFIRMED
        auth.save()
    return auth

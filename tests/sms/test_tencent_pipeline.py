"""The whole send path through the real SDK to a loopback Tencent Cloud, and the receipt pull."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import TencentCloudAuthorization
from sms import receipts
from sms.models import SmsApplication, SmsMessage
from sms.sending import SmsRejected, send
from tests.conftest import authorized_cloud
from tests.sms.conftest import order as prepare_order

SECRET_ID, SECRET_KEY = "AKIDpipeline0000000000000000000000", "pipeline-secret-key-000000000000"


@pytest.fixture
def cloud(settings, sms, personas):
    with authorized_cloud(
        personas.org, settings, {SECRET_ID: SECRET_KEY}, by=personas.owner, timeout=1
    ) as fake:
        yield fake


def numbers(count):
    return [f"+86137{i:08d}" for i in range(count)]


def order(sms, count):
    return prepare_order(sms, numbers(count), max_numbers=None)


def test_450_numbers_go_out_in_three_requests_and_are_recorded_sent(cloud, sms):
    messages = send(order(sms, 450))

    calls = cloud.calls("SendSms")
    assert sorted(len(c.params["PhoneNumberSet"]) for c in calls) == [50, 200, 200]
    sent_to = [n for c in calls for n in c.params["PhoneNumberSet"]]
    assert sorted(sent_to) == sorted(m.phone_number for m in messages)
    assert all(c.signature_valid for c in calls)
    assert calls[0].params["TemplateId"] == "449739"
    assert calls[0].params["SignName"] == "腾讯云"
    assert calls[0].params["TemplateParamSet"] == ["报销单 42", "明天"]
    assert {m.state for m in messages} == {"sent"}
    assert (
        SmsMessage.objects.filter(state="sent", transport="tencent", simulated=False).count() == 450
    )
    assert len(set(SmsMessage.objects.values_list("serial_no", flat=True))) == 450


def test_the_requests_of_one_batch_are_in_flight_together(cloud, sms):
    cloud.delay = 0.5  # each request takes a while at the provider: they overlap

    messages = send(order(sms, 450))

    assert len(cloud.calls("SendSms")) == 3
    assert cloud.max_in_flight == 3
    assert {m.state for m in messages} == {"sent"}


def test_a_timeout_leaves_the_messages_unknown_charged_and_not_resent(cloud, sms):
    cloud.delay = 3

    messages = send(order(sms, 3))

    assert {(m.state, m.reason) for m in messages} == {("unknown", "ClientNetworkError")}
    assert len(cloud.calls("SendSms")) == 1
    sms.package.refresh_from_db()
    assert sms.package.used == 3  # it may have been sent: the parts stay spent


def test_sending_through_tencent_needs_a_confirmed_authorization(cloud, sms, personas):
    personas.org.tencent_cloud_authorization.delete()

    with pytest.raises(SmsRejected) as rejected:
        order(sms, 1)

    assert rejected.value.field == "authorization"


@pytest.mark.parametrize("status", ["unconfirmed", "refused"])
def test_an_authorization_that_is_not_confirmed_cannot_send(cloud, sms, personas, status):
    TencentCloudAuthorization.objects.filter(account=personas.org).update(status=status)

    with pytest.raises(SmsRejected) as rejected:
        order(sms, 1)

    assert rejected.value.field == "authorization"
    assert not cloud.calls("SendSms")


def test_the_send_uses_the_authorization_read_by_prepare(cloud, sms):
    prepared = order(sms, 1)
    assert prepared.authorization.is_confirmed

    with CaptureQueriesContext(connection) as queries:
        [message] = send(prepared)

    assert message.state == "sent"
    assert not [q for q in queries if "tencentcloudauthorization" in q["sql"]]


def test_pulled_receipts_settle_the_messages(cloud, sms):
    SmsApplication.objects.filter(pk=sms.application.pk).update(receipt_mode="pull")
    [first, second] = send(order(sms, 2))

    def pull(params, request):
        assert params == {"SmsSdkAppId": "1400006666", "Limit": 100}
        return {
            "PullSmsSendStatusSet": [
                {
                    "UserReceiveTime": 1764000000,
                    "CountryCode": "86",
                    "SubscriberNumber": first.phone_number[3:],
                    "PhoneNumber": first.phone_number,
                    "SerialNo": first.serial_no,
                    "ReportStatus": "SUCCESS",
                    "Description": "DELIVRD",
                    "SessionContext": "",
                },
                {
                    "UserReceiveTime": 1764000000,
                    "CountryCode": "86",
                    "SubscriberNumber": second.phone_number[3:],
                    "PhoneNumber": second.phone_number,
                    "SerialNo": second.serial_no,
                    "ReportStatus": "FAIL",
                    "Description": "UNDELIVRD",
                    "SessionContext": "",
                },
            ]
        }

    cloud.on("PullSmsSendStatus", pull)

    assert receipts.pull_receipts() == 2
    assert receipts.pull_receipts() == 0  # the same reports again change nothing
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.receipt_code) == ("delivered", "DELIVRD")
    assert (second.state, second.reason) == ("failed", "UNDELIVRD")


def test_a_pulled_report_is_stored_like_a_callback_one_and_truncated(cloud, sms):
    SmsApplication.objects.filter(pk=sms.application.pk).update(receipt_mode="pull")
    [message] = send(order(sms, 1))
    description = "UNDELIVRD: the carrier says the handset was unreachable for too long"
    assert len(description) > 40

    cloud.on(
        "PullSmsSendStatus",
        lambda params, request: {
            "PullSmsSendStatusSet": [
                {
                    "UserReceiveTime": 1764000000,
                    "CountryCode": "86",
                    "SubscriberNumber": message.phone_number[3:],
                    "PhoneNumber": message.phone_number,
                    "SerialNo": message.serial_no,
                    "ReportStatus": "fail",
                    "Description": description,
                    "SessionContext": "",
                }
            ]
        },
    )

    assert receipts.pull_receipts() == 1
    message.refresh_from_db()
    assert (message.state, message.receipt_status) == ("failed", "FAIL")
    assert message.receipt_code == message.reason == description[:40]
    assert message.receipt_description == description

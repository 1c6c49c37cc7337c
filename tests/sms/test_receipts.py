"""Tencent's status-report callback: POST /callbacks/sms/<receipt_token> (reference §4.5)."""

import json
from datetime import UTC, datetime

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from sms.models import SmsApplication, SmsMessage
from tests.sms.conftest import send_one

OK = {"result": 0, "errmsg": "OK"}


@pytest.fixture
def tencent():
    """Tencent's side: no session, no CSRF token (and CSRF checks on, as in production)."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def sent(sms):
    message = send_one(sms)
    assert message.state == "sent" and message.serial_no
    return message


def report(serial_no, status="SUCCESS", errmsg="DELIVRD", **extra):
    return {
        "user_receive_time": "2026-03-01 08:03:04",
        "nationcode": "86",
        "mobile": "13711112222",
        "report_status": status,
        "errmsg": errmsg,
        "description": "用户短信送达成功" if status == "SUCCESS" else "用户短信未送达",
        "sid": serial_no,
        **extra,
    }


def callback(client, application, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        f"/callbacks/sms/{application.receipt_token}", data, content_type="application/json"
    )


def test_a_success_report_marks_the_message_delivered(tencent, sms, sent):
    response = callback(tencent, sms.application, [report(sent.serial_no)])

    assert response.status_code == 200
    assert response.json() == OK
    sent.refresh_from_db()
    assert sent.state == "delivered"
    assert sent.delivered_at == datetime(2026, 3, 1, 0, 3, 4, tzinfo=UTC)  # 08:03:04 Beijing
    assert (sent.receipt_status, sent.receipt_code) == ("SUCCESS", "DELIVRD")


def test_a_fail_report_marks_the_message_failed_with_the_carrier_code(tencent, sms, sent):
    response = callback(tencent, sms.application, [report(sent.serial_no, "FAIL", "MX:0003")])

    assert response.json() == OK
    sent.refresh_from_db()
    assert (sent.state, sent.reason, sent.receipt_code) == ("failed", "MX:0003", "MX:0003")
    assert sent.delivered_at is None


def test_a_repeated_or_contradicting_report_changes_nothing(tencent, sms, sent):
    callback(tencent, sms.application, [report(sent.serial_no)])
    sent.refresh_from_db()
    settled = model_to_dict(sent)

    again = callback(tencent, sms.application, [report(sent.serial_no)])
    contradicting = callback(tencent, sms.application, [report(sent.serial_no, "FAIL", "X")])

    assert again.status_code == contradicting.status_code == 200
    assert again.json() == contradicting.json() == OK
    sent.refresh_from_db()
    assert model_to_dict(sent) == settled


def test_a_report_settles_a_message_whose_send_outcome_was_unknown(tencent, sms, sent):
    SmsMessage.objects.filter(pk=sent.pk).update(state=SmsMessage.State.UNKNOWN)

    callback(tencent, sms.application, [report(sent.serial_no)])

    sent.refresh_from_db()
    assert sent.state == "delivered"


def test_a_report_settles_an_unknown_message_whose_serial_no_was_never_learnt(tencent, sms, sent):
    # The send timed out: the message is unknown and Tencent's SerialNo never reached us.
    SmsMessage.objects.filter(pk=sent.pk).update(state=SmsMessage.State.UNKNOWN, serial_no="")

    response = callback(tencent, sms.application, [report("2019:learnt-from-the-report")])

    assert response.json() == OK
    sent.refresh_from_db()
    assert (sent.state, sent.serial_no) == ("delivered", "2019:learnt-from-the-report")
    assert (sent.receipt_status, sent.receipt_code) == ("SUCCESS", "DELIVRD")


def test_several_reports_in_one_request_and_unknown_serial_numbers_are_accepted(tencent, sms, sent):
    response = callback(
        tencent, sms.application, [report("5000:nobody-knows-me"), report(sent.serial_no)]
    )

    assert response.json() == OK
    sent.refresh_from_db()
    assert sent.state == "delivered"


def test_an_empty_batch_is_well_formed(tencent, sms):
    assert callback(tencent, sms.application, []).json() == OK


def test_an_unknown_token_is_a_404(tencent, sms, sent):
    unknown = SmsApplication(receipt_token="x" * 43)

    response = callback(tencent, unknown, [report(sent.serial_no)])

    assert response.status_code == 404
    sent.refresh_from_db()
    assert sent.state == "sent"


def test_another_applications_token_does_not_reach_this_applications_messages(tencent, sms, sent):
    # The same account: only the application filter keeps the report away from the message.
    other = SmsApplication.objects.create(account=sms.account, sdk_app_id="1400001")

    response = callback(tencent, other, [report(sent.serial_no)])

    assert response.json() == OK
    sent.refresh_from_db()
    assert sent.state == "sent"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'"a string"',
        json.dumps([{"report_status": "SUCCESS"}]),
        json.dumps([report("5000:1", status="MAYBE")]),
    ],
    ids=["not-json", "not-an-array", "no-sid", "bad-status"],
)
def test_a_malformed_body_is_a_400_with_result_1(tencent, sms, sent, body):
    response = callback(tencent, sms.application, body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["result"] == 1 and answer["errmsg"]
    sent.refresh_from_db()
    assert sent.state == "sent"


def test_only_post_is_allowed(tencent, sms):
    response = tencent.get(f"/callbacks/sms/{sms.application.receipt_token}")

    assert response.status_code == 405


def test_lost_sends_are_reconciled_from_a_checkpoint_not_from_the_whole_history(sms, sent):
    from datetime import timedelta

    from django.utils import timezone

    from sms import receipts

    now = timezone.now()
    SmsMessage.objects.filter(pk=sent.pk).update(state="sending", created_at=now)
    assert receipts.reconcile_stale(now) == 0  # not old enough; the checkpoint is now - 10 min
    assert receipts.reconcile_stale(now + timedelta(minutes=11)) == 1
    sent.refresh_from_db()
    assert (sent.state, sent.reason) == ("unknown", "worker_lost")

    # A message older than the checkpoint (less the overlap) was looked at by an earlier run:
    # later runs no longer read that far back.
    SmsMessage.objects.filter(pk=sent.pk).update(
        state="sending", created_at=now - timedelta(hours=1)
    )
    assert receipts.reconcile_stale(now + timedelta(minutes=12)) == 0
    # A message stuck since the last run is found.
    SmsMessage.objects.filter(pk=sent.pk).update(
        state="sending", created_at=now + timedelta(minutes=1)
    )
    assert receipts.reconcile_stale(now + timedelta(minutes=12)) == 1


def test_a_message_is_live_while_it_was_or_may_have_been_sent(sms, sent):
    for state, live in [("sending", True), ("sent", True), ("delivered", True), ("unknown", True),
                        ("failed", False), ("blocked", False)]:  # fmt: skip
        SmsMessage.objects.filter(pk=sent.pk).update(state=state)
        assert SmsMessage.objects.get(pk=sent.pk).live is live, state


@pytest.mark.postgres
def test_completing_a_send_changes_no_indexed_column(db):
    """sending → sent must stay a heap-only update: no index of the SMS table may use a column
    that completing a send writes (state, serial number, times, the provider's answer)."""
    from django.db import connection

    written = {"state", "reason", "error_message", "retryable", "serial_no", "iso_code",
               "request_id", "sent_at", "transport", "simulated", "charged"}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'sms_smsmessage'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert definitions
    for definition in definitions:
        used = set(definition.replace("(", " ").replace(")", " ").replace(",", " ").split())
        assert not used & written, definition

"""Status reports (receipts): Tencent's callback, the pull, and reconciling lost sends.

Receipts match messages on number and SerialNo within the SMS application. They are idempotent:
a report for a message that already has its final receipt changes nothing. A message left
``sending`` by a worker that died mid-send becomes ``unknown`` (never re-sent) and a later
receipt settles it.
"""

import json
import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import UNKNOWN_AFTER, Checkpoint, SmsApplication, SmsMessage

log = logging.getLogger(__name__)

SIMULATED_DELIVERY_AFTER = timedelta(seconds=5)
# How far back a receipt may settle a message (Tencent reports within 72 hours).
RECEIPT_WINDOW = timedelta(days=7)
# How far back a receipt may settle a message whose SerialNo we never learnt.
LOST_SERIAL_WINDOW = timedelta(days=3)
# A receipt may settle a message in any of these states (and never a final one again).
RECONCILE_CHECKPOINT = "sms.reconcile_stale"
OPEN_STATES = (SmsMessage.State.SENDING, SmsMessage.State.SENT, SmsMessage.State.UNKNOWN)


class MalformedReport(ValueError):
    pass


def _parse_time(value, fallback):
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:  # "2015-10-17 08:03:04", Beijing time
        local = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return fallback
    return local.replace(tzinfo=timezone.get_fixed_timezone(8 * 60)).astimezone(UTC)


def parse_callback(body: bytes) -> list[dict]:
    """Tencent's status-report callback: a JSON array of reports (reference §4.5)."""
    try:
        reports = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested a few thousand deep
        raise MalformedReport("the body is not JSON") from None
    if isinstance(reports, dict):
        reports = [reports]
    if not isinstance(reports, list):
        raise MalformedReport("expected a JSON array of status reports")
    parsed = []
    for i, report in enumerate(reports):
        if not isinstance(report, dict) or not report.get("sid"):
            raise MalformedReport(f"report {i} has no sid")
        entry = _report(
            serial_no=report["sid"],
            status=report.get("report_status", ""),
            at=report.get("user_receive_time"),
            code=report.get("errmsg", ""),
            description=report.get("description", ""),
            phone=_phone(report.get("nationcode"), report.get("mobile")),
        )
        if entry["status"] not in ("SUCCESS", "FAIL"):
            raise MalformedReport(f"report {i}: report_status must be SUCCESS or FAIL")
        parsed.append(entry)
    return parsed


def _report(*, serial_no, status, at, code, description, phone) -> dict:
    """One status report as ``apply_receipts`` takes it, from the callback or the pull."""
    return {
        "serial_no": str(serial_no),
        "status": str(status).upper(),
        "at": at,
        "code": str(code)[:40],
        "description": str(description)[:200],
        "phone": phone,
    }


def _phone(nation_code, mobile) -> str:
    if not mobile:
        return ""
    mobile = str(mobile)
    return mobile if mobile.startswith("+") else f"+{nation_code or 86}{mobile}"


def apply_receipts(application: SmsApplication, reports: list[dict], now=None) -> int:
    """Settle messages from receipts: a few queries for the whole batch. Returns how many changed.

    Reports match on SerialNo among the recent messages of the SMS application to the report's
    number (the rate-limit index finds them; SerialNo is not indexed, so that completing a
    send writes no index entry for it). A report whose SerialNo we never learnt (the send
    timed out, so the message is ``unknown`` with no SerialNo) matches the oldest such message
    to the same number, which then takes that SerialNo.
    """
    now = now or timezone.now()
    by_serial = {r["serial_no"]: r for r in reports}
    recent = SmsMessage.objects.filter(
        account_id=application.account_id,
        application=application,
        created_at__gte=now - RECEIPT_WINDOW,
    )
    phones = sorted({r["phone"] for r in reports if r.get("phone")})
    candidates = list(recent.filter(phone_number__any=phones)) if phones else []
    if any(not r.get("phone") for r in reports):  # rare: the account's recent messages
        candidates += recent.filter(serial_no__any=list(by_serial)).exclude(
            phone_number__any=phones
        )
    known = {m.serial_no for m in candidates if m.serial_no in by_serial}
    messages = [m for m in candidates if m.serial_no in known and m.state in OPEN_STATES]
    unmatched = [r for r in reports if r["serial_no"] not in known and r.get("phone")]
    if unmatched:
        waiting: dict[str, list[SmsMessage]] = {}
        lost = [
            m
            for m in candidates
            if not m.serial_no
            and m.state in (SmsMessage.State.UNKNOWN, SmsMessage.State.SENDING)
            and m.created_at >= now - LOST_SERIAL_WINDOW
        ]
        for message in sorted(lost, key=lambda m: (m.created_at, m.pk)):
            waiting.setdefault(message.phone_number, []).append(message)
        for report in unmatched:
            if waiting.get(report["phone"]):
                message = waiting[report["phone"]].pop(0)
                message.serial_no = report["serial_no"]
                messages.append(message)
    for message in messages:
        report = by_serial[message.serial_no]
        success = report["status"] == "SUCCESS"
        message.state = SmsMessage.State.DELIVERED if success else SmsMessage.State.FAILED
        message.receipt_status = report["status"]
        message.receipt_code = report["code"]
        message.receipt_description = report["description"]
        message.delivered_at = _parse_time(report["at"], now) if success else None
        if not success:
            message.reason = report["code"] or "undelivered"
    SmsMessage.objects.bulk_update(
        messages,
        [
            "state",
            "serial_no",
            "receipt_status",
            "receipt_code",
            "receipt_description",
            "delivered_at",
            "reason",
        ],
    )
    return len(messages)


def pull_receipts(now=None, limit: int = 100) -> int:
    """Ask Tencent for the status reports of applications that pull (PullSmsSendStatus)."""
    from . import authorization
    from .tencentcloud import TencentCloudSDKException, build_request, models

    changed = 0
    applications = SmsApplication.objects.filter(
        receipt_mode=SmsApplication.ReceiptMode.PULL
    ).select_related("account")
    for application in applications:
        auth = application.account.find_authorization(confirmed=True)
        if auth is None:
            continue
        request = build_request(
            models.PullSmsSendStatusRequest, {"SmsSdkAppId": application.sdk_app_id, "Limit": limit}
        )
        try:
            response = authorization.client(auth).PullSmsSendStatus(request)
        except TencentCloudSDKException as exc:
            log.warning("pulling receipts of %s failed: %s", application.sdk_app_id, exc.get_code())
            continue
        # The pull's Description is the carrier's status code ("DELIVRD", "UNDELIVRD"…), the
        # callback's errmsg: it is both the code and the description here.
        reports = [
            _report(
                serial_no=item.SerialNo,
                status=item.ReportStatus or "",
                at=item.UserReceiveTime,
                code=item.Description or "",
                description=item.Description or "",
                phone=item.PhoneNumber or "",
            )
            for item in response.PullSmsSendStatusSet or []
            if item.SerialNo  # nothing to match a report without one on
        ]
        changed += apply_receipts(application, reports, now=now)
    return changed


def deliver_simulated(now=None) -> int:
    """The local transport's "receipts": simulated messages are delivered a few seconds later."""
    now = now or timezone.now()
    return SmsMessage.objects.filter(
        simulated=True, state=SmsMessage.State.SENT, sent_at__lte=now - SIMULATED_DELIVERY_AFTER
    ).update(
        state=SmsMessage.State.DELIVERED,
        delivered_at=now,
        receipt_status="SUCCESS",
        receipt_code="DELIVRD",
        receipt_description="simulated delivery",
    )


def reconcile_stale(now=None) -> int:
    """Messages left ``sending`` (the worker died mid-send) become ``unknown``: never re-sent.

    Each run looks at the messages that became old enough since the previous run (from the
    checkpoint, less one ``UNKNOWN_AFTER`` of overlap for sends still committing then), through
    the index on ``created_at``: a run costs what was sent since, not the whole history.
    """
    now = now or timezone.now()
    cutoff = now - UNKNOWN_AFTER
    with transaction.atomic():
        mark, first = Checkpoint.objects.get_or_create(
            name=RECONCILE_CHECKPOINT, defaults={"at": cutoff}
        )
        mark = Checkpoint.objects.select_for_update().get(pk=mark.pk)  # one run at a time
        stale = SmsMessage.objects.filter(state=SmsMessage.State.SENDING, created_at__lt=cutoff)
        if not first:  # the first run ever looks at the whole history
            stale = stale.filter(created_at__gte=mark.at - UNKNOWN_AFTER)
        changed = stale.update(state=SmsMessage.State.UNKNOWN, reason="worker_lost")
        if cutoff > mark.at:
            Checkpoint.objects.filter(pk=mark.pk).update(at=cutoff)
    return changed

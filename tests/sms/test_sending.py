"""Gates, limits and quota of sending, on real connections."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from sms.models import ExemptNumber, Package, PackageCharge, RateLimitPolicy, SmsMessage
from sms.sending import SmsRejected, prepare, send
from sms.transports import LOCAL_OUTBOX, LocalTransport
from tests.conftest import run_concurrently
from tests.sms.conftest import NUMBER, order


def test_a_send_records_renders_charges_and_reaches_the_transport(sms):
    [message] = send(order(sms))

    message.refresh_from_db()
    assert message.state == "sent" and message.simulated and message.transport == "local"
    assert message.content == "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。"
    assert message.serial_no.startswith("local:")
    assert (message.fee, message.charged) == (1, 1)
    sms.package.refresh_from_db()
    assert sms.package.used == 1
    assert LOCAL_OUTBOX[-1].numbers == (NUMBER,)


def test_numbers_are_normalised_and_a_bare_number_is_chinese(sms):
    o = order(sms, numbers=["13711112222", "0086 137 1111 3333", "+86-137-1111-4444"])

    assert [r.number for r in o.recipients] == [
        "+8613711112222",
        "+8613711113333",
        "+8613711114444",
    ]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"sdk_app_id": "nope"}, "sdk_app_id"),
        ({"template_id": "999"}, "template_id"),
        ({"params": ["only one"]}, "params"),
        ({"numbers": ["12345"]}, "numbers[0]"),
        ({"numbers": [NUMBER, "+12025550123"]}, "numbers[1]"),
        ({"numbers": [NUMBER] * 201}, "numbers"),
        ({"sign_name": "别人的签名"}, "sign_name"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(sms, changes, field):
    args = dict(
        sdk_app_id=sms.application.sdk_app_id,
        template_id=sms.template.code,
        params=["a", "b"],
        numbers=[NUMBER],
    )
    args.update(changes)

    with pytest.raises(SmsRejected) as rejected:
        prepare(sms.account, **args)

    assert rejected.value.field == field
    assert not SmsMessage.objects.exists()


def test_a_template_revoked_after_prepare_is_refused_at_send(sms):
    prepared = order(sms)
    type(sms.template).objects.filter(pk=sms.template.pk).update(status="rejected")

    with pytest.raises(SmsRejected, match="template_id"):
        send(prepared)
    assert not SmsMessage.objects.exists()


def test_the_same_content_twice_within_30_seconds_is_blocked(sms):
    now = timezone.now()
    send(order(sms), now=now)
    [second] = send(order(sms), now=now + timedelta(seconds=29))
    [third] = send(order(sms), now=now + timedelta(seconds=31))

    assert (second.state, second.reason) == ("blocked", "same_content")
    assert second.charged == 0
    assert third.state == "sent"


def test_the_daily_limit_counts_the_calendar_day_of_the_account(sms):
    # 23:59 and 00:01 Beijing time are different calendar days. Tomorrow's, so that the
    # package bought now is valid then.
    day_end = timezone.now().astimezone(UTC).replace(
        hour=15, minute=59, second=0, microsecond=0
    ) + timedelta(days=1)
    for i in range(10):
        send(order(sms, params=(f"单 {i}", "明天")), now=day_end - timedelta(minutes=30 - i))

    [blocked] = send(order(sms, params=("单 10", "明天")), now=day_end)
    [next_day] = send(order(sms, params=("单 11", "明天")), now=day_end + timedelta(minutes=2))

    assert (blocked.state, blocked.reason) == ("blocked", "daily_limit")
    assert next_day.state == "sent"


def test_the_optional_hourly_limit(sms):
    RateLimitPolicy.objects.create(account=sms.account, hourly_limit=2)
    now = timezone.now()
    outcomes = [
        send(order(sms, params=(f"单 {i}", "x")), now=now + timedelta(minutes=i))[0].state
        for i in range(3)
    ]
    [later] = send(order(sms, params=("单 9", "x")), now=now + timedelta(minutes=61))

    assert outcomes == ["sent", "sent", "blocked"]
    assert later.state == "sent"


def test_with_every_rule_off_nothing_is_limited_and_an_hourly_limit_of_zero_is_a_rule(sms):
    # With no rule on, the limiter reads no usage at all (``Limiter.active``): an hourly limit
    # of 0 is still a rule (no SMS in any hour), unlike a daily limit of 0 (no limit).
    policy = RateLimitPolicy.objects.create(
        account=sms.account, same_content_seconds=0, daily_limit=0
    )
    now = timezone.now()
    free = [send(order(sms), now=now)[0].state for _ in range(3)]
    policy.hourly_limit = 0
    policy.save()

    [blocked] = send(order(sms), now=now)

    assert free == ["sent"] * 3
    assert (blocked.state, blocked.reason) == ("blocked", "hourly_limit")


def test_an_exempt_number_is_not_limited(sms):
    ExemptNumber.objects.create(account=sms.account, number=NUMBER)
    now = timezone.now()

    states = [send(order(sms), now=now)[0].state for _ in range(3)]

    assert states == ["sent"] * 3


def test_insufficient_package_blocks_without_charging_or_sending(sms):
    Package.objects.filter(pk=sms.package.pk).update(quantity=2, used=1)
    numbers = [NUMBER, "+8613711113333"]

    first, second = send(order(sms, numbers=numbers))

    assert first.state == "sent"
    assert (second.state, second.reason, second.charged) == ("blocked", "insufficient_package", 0)
    assert LOCAL_OUTBOX[-1].numbers == (NUMBER,)
    sms.package.refresh_from_db()
    assert sms.package.used == 2


def test_packages_are_consumed_earliest_expiry_first_and_across_packages(sms):
    soon = Package.objects.create(
        account=sms.account,
        quantity=1,
        valid_until=timezone.now() + timedelta(days=3),
    )
    long_text = ("很长的参数" * 10, "明天")  # 2 parts

    [message] = send(order(sms, params=long_text))

    assert message.fee == 2
    soon.refresh_from_db()
    sms.package.refresh_from_db()
    assert (soon.used, sms.package.used) == (1, 1)
    assert PackageCharge.objects.filter(message=message).count() == 2


def test_expired_packages_are_not_used(sms):
    Package.objects.filter(pk=sms.package.pk).update(
        valid_from=timezone.now() - timedelta(days=400),
        valid_until=timezone.now() - timedelta(days=1),
    )

    [message] = send(order(sms))

    assert message.reason == "insufficient_package"


class FailingTransport(LocalTransport):
    def send(self, batch):
        from sms.transports import Outcome

        results = super().send(batch)
        for r in results:
            r.outcome, r.code, r.message, r.serial_no = (
                Outcome.FAILED,
                "InvalidParameterValue.IncorrectPhoneNumber",
                "bad number",
                "",
            )
        return results


def test_failed_sends_are_not_charged(sms):
    [message] = send(order(sms), transport=FailingTransport())

    message.refresh_from_db()
    assert (message.state, message.reason, message.charged) == (
        "failed",
        "InvalidParameterValue.IncorrectPhoneNumber",
        0,
    )
    sms.package.refresh_from_db()
    assert sms.package.used == 0
    assert not PackageCharge.objects.exists()


def test_a_screen_drops_recipients_before_their_rows_are_written(sms):
    prepared = order(
        sms, numbers=[NUMBER, "+8613711113333"], source_ids=[1, 2], source_type="push_delivery"
    )

    messages = send(prepared, screen=lambda recipients: {1: "not_needed"})

    assert [(m.source_id, m.state) for m in messages] == [(2, "sent")]
    assert list(SmsMessage.objects.values_list("source_id", flat=True)) == [2]


@pytest.mark.postgres
def test_a_screen_runs_under_the_per_number_locks(sms):
    from django.db import connection

    from sms.limits import LOCK_KEY

    numbers = [NUMBER, "+8613711113333"]
    prepared = order(sms, numbers=numbers, source_ids=[1, 2], source_type="push_delivery")
    held_during_screen = []

    def screen(recipients):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
                "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
                "AND pid = pg_backend_pid()"
            )
            held_during_screen.extend(key for (key,) in cursor.fetchall())
        assert not SmsMessage.objects.exists()  # and before any row is written
        return {1: "not_needed"}

    messages = send(prepared, screen=screen)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {LOCK_KEY} FROM unnest(%s::text[]) AS n", [str(sms.account.pk), numbers]
        )
        keys = [key for (key,) in cursor.fetchall()]
    assert sorted(held_during_screen) == sorted(keys)
    assert [(m.source_id, m.state) for m in messages] == [(2, "sent")]


def test_one_live_message_per_source_is_enforced_by_the_database(sms):
    from django.db import IntegrityError, transaction

    prepared = order(sms, source_ids=[7], source_type="push_delivery")
    send(prepared)

    with pytest.raises(IntegrityError), transaction.atomic():
        send(prepared, now=timezone.now() + timedelta(minutes=5))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sends_to_one_number_yield_exactly_ten(sms):
    RateLimitPolicy.objects.create(account=sms.account, same_content_seconds=0)
    now = timezone.now()

    results = run_concurrently(20, lambda i: send(order(sms, params=(f"单 {i}", "x")), now=now)[0])

    states = sorted(m.state for m in results)
    assert states == ["blocked"] * 10 + ["sent"] * 10
    assert {m.reason for m in results if m.state == "blocked"} == {"daily_limit"}
    assert SmsMessage.objects.filter(state="sent").count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_never_overdraw_a_package(sms):
    Package.objects.filter(pk=sms.package.pk).update(quantity=15)

    results = run_concurrently(30, lambda i: send(order(sms, numbers=[f"+86137{i:08d}"]))[0])

    assert sum(m.state == "sent" for m in results) == 15
    assert {m.reason for m in results if m.state == "blocked"} == {"insufficient_package"}
    sms.package.refresh_from_db()
    assert sms.package.used == 15


def test_a_quote_answers_what_the_send_then_does_and_writes_nothing(sms):
    """exempt list → rate limits → package balance, asked without writing (the preview's
    question), then the send: the same verdict for every number."""
    from sms.sending import quote

    RateLimitPolicy.objects.create(account=sms.account, daily_limit=1, same_content_seconds=0)
    Package.objects.filter(pk=sms.package.pk).update(quantity=4, used=0)
    limited, exempt = "+8613711113333", "+8613711114444"
    now = timezone.now()
    for number in (limited, exempt):
        send(order(sms, numbers=[number]), now=now)
    ExemptNumber.objects.create(account=sms.account, number=exempt)
    numbers = [NUMBER, limited, exempt, "+8613711115555"]
    prepared = order(sms, numbers=numbers)
    written = SmsMessage.objects.count()

    answer = quote(prepared, now)

    assert SmsMessage.objects.count() == written
    assert Package.objects.get(pk=sms.package.pk).used == 2
    assert answer.balance == 2 and answer.fee_per_sms == 1
    assert answer.blocked == {1: "daily_limit", 3: "insufficient_package"}
    assert (answer.sendable, answer.fee) == (2, 2)
    sent = send(prepared, now=now)
    assert [(m.state, m.reason) for m in sent] == [
        ("sent", ""),
        ("blocked", "daily_limit"),
        ("sent", ""),
        ("blocked", "insufficient_package"),
    ]


def test_a_rejected_send_names_its_blocking_rule(sms):
    Template = sms.template.__class__
    Template.objects.filter(pk=sms.template.pk).update(status="rejected")

    with pytest.raises(SmsRejected) as rejected:
        order(sms)

    assert (rejected.value.field, rejected.value.rule) == ("template_id", "template_not_approved")

"""A package whose unused parts are lost within 7 days: besides the banner, its account's owners
and admins get one e-mail per package, each in their own language
(``quota.warn_expiring_packages``, every hour); two workers running it at once send it once."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Role
from accounts.preferences import Preference
from pushconsole.schedules import SCHEDULES
from sms import quota, tasks
from sms.models import Package, PackageExpiryNotice
from tests.conftest import make_user, run_concurrently


@pytest.fixture
def admin_user(personas):
    user = make_user("ada")
    Membership.objects.create(user=user, account=personas.org, role=Role.ADMIN)
    return user


@pytest.fixture
def now():
    return timezone.now()


def ending(sms, now, *, within, used=400, quantity=1000) -> Package:
    """The SMS setup's package, ending ``within`` after ``now``, ``used`` of ``quantity`` spent."""
    Package.objects.filter(pk=sms.package.pk).update(
        valid_from=now - timedelta(days=30),
        valid_until=now + within,
        used=used,
        quantity=quantity,
    )
    return Package.objects.get(pk=sms.package.pk)


def test_owners_and_admins_are_emailed_once_each_in_their_own_language(
    sms, personas, admin_user, now
):
    Preference.choose(admin_user, "zh-hans")
    package = ending(sms, now, within=timedelta(days=3))

    first = quota.warn_expiring_packages(now)
    again = quota.warn_expiring_packages(now + timedelta(hours=1))

    assert (first, again) == (1, 0)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {personas.owner.email, admin_user.email}  # not the operator
    english, chinese = by_address[personas.owner.email], by_address[admin_user.email]
    day = timezone.localtime(package.valid_until, personas.org.tz).strftime("%Y-%m-%d")
    assert english.subject == f"[pushconsole] Acme: 600 Chinese mainland SMS parts expire on {day}"
    assert "with 600 of its 1,000 parts unused" in english.body
    assert "CST" in english.body  # the end time in the account's zone (Asia/Shanghai)
    assert chinese.subject == f"[pushconsole] Acme：600 条国内短信将于 {day} 过期"
    assert "未使用的 600 条" in chinese.body and "ends on" not in chinese.body
    link = f"http://127.0.0.1:8000/a/{personas.org.pk}/sms/packages/"
    assert link in english.body and link in chinese.body
    assert PackageExpiryNotice.objects.get(package=package).emails == 2


@pytest.mark.parametrize(
    ("within", "used", "warned"),
    [
        (timedelta(days=7), 400, True),  # the last moment of the window
        (timedelta(days=7, seconds=1), 400, False),  # later: not yet
        (timedelta(days=2), 1000, False),  # used up: nothing to lose
        (timedelta(seconds=-1), 400, False),  # ended: too late to warn
    ],
)
def test_only_a_package_with_parts_left_ending_within_7_days_is_warned_of(
    sms, now, within, used, warned
):
    ending(sms, now, within=within, used=used)

    assert quota.warn_expiring_packages(now) == int(warned)
    assert bool(mail.outbox) is warned


def test_time_is_a_parameter_a_package_becomes_due_as_its_end_nears(sms, now):
    ending(sms, now, within=timedelta(days=10))

    assert quota.warn_expiring_packages(now) == 0
    assert quota.warn_expiring_packages(now + timedelta(days=3, hours=1)) == 1
    assert len(mail.outbox) == 1


def test_another_package_of_the_account_gets_its_own_notice(sms, now):
    ending(sms, now, within=timedelta(days=3))
    quota.warn_expiring_packages(now)
    Package.objects.create(
        account=sms.account,
        region="mainland",
        quantity=50,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=5),
    )

    assert quota.warn_expiring_packages(now) == 1
    assert len(mail.outbox) == 2


def test_the_hourly_schedule_runs_the_task(sms):
    name = "sms: warn of packages whose unused parts expire within 7 days"
    assert SCHEDULES[name] == ("sms.tasks.warn_expiring_packages", "H", None)
    ending(sms, timezone.now(), within=timedelta(days=1))

    assert tasks.warn_expiring_packages() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_the_warning_once(sms, personas, admin_user):
    now = timezone.now()
    ending(sms, now, within=timedelta(days=3))

    results = run_concurrently(2, lambda i: quota.warn_expiring_packages(now))

    assert sorted(results) == [0, 1]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([personas.owner.email, admin_user.email])
    assert PackageExpiryNotice.objects.count() == 1

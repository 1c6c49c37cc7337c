"""SMS packages in the console: the owner records a purchased package (once, whatever the
clicks), everyone else is refused; the page shows balances and expiries in the account's
time zone; the 80 % and exhausted warnings reach each owner and admin in their language,
once per level per purchase."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import AuditEvent
from accounts.models import Membership, Role
from accounts.preferences import Preference
from sms import quota
from sms.models import Package, QuotaAlert
from sms.package_forms import PackageForm, add_months
from tests.conftest import make_user

NEW = "packages/new/"


def url(account, page="packages/"):
    return f"/a/{account.pk}/sms/{page}"


def form_data(**overrides):
    data = {
        "region": "mainland",
        "quantity": "5000",
        "valid_from": timezone.localdate().isoformat(),
        "months": "12",
        "valid_until": "",
        "note": "Order 2026-118",
        "request_key": str(uuid.uuid4()),
    }
    data.update(overrides)
    return data


def written(account):
    """What recording may write: the packages and the audit events of the account."""
    return (
        Package.objects.filter(account=account).count(),
        AuditEvent.objects.filter(account=account).count(),
    )


@pytest.fixture
def admin_user(personas):
    user = make_user("ada")
    Membership.objects.create(user=user, account=personas.org, role=Role.ADMIN)
    return user


# --------------------------------------------------------------------------------------------
# Recording


def test_the_owner_records_a_package_and_the_balance_can_be_spent(sms, login, personas):
    before = quota.usage(sms.account, "mainland")["left"]
    client = login(personas.owner)
    assert client.get(url(sms.account, NEW)).status_code == 200

    answer = client.post(url(sms.account, NEW), form_data(), follow=True)

    assert answer.redirect_chain[-1][0] == url(sms.account)
    assert "Recorded 5,000 Chinese mainland SMS parts." in answer.content.decode()
    package = Package.objects.get(account=sms.account, note="Order 2026-118")
    assert (package.quantity, package.used, package.created_by) == (5000, 0, personas.owner)
    assert quota.usage(sms.account, "mainland")["left"] == before + 5000
    # Its parts are spendable: a wallet takes them once the fixture's package is used up.
    Package.objects.filter(pk=sms.package.pk).update(used=1000)
    with transaction.atomic():
        wallet = quota.Wallet(sms.account, "mainland", timezone.now())
        assert wallet.take(4999) == [(package, 4999)]
        wallet.commit()
    package.refresh_from_db()
    assert package.left == 1
    event = AuditEvent.objects.get(account=sms.account, action="sms_package_recorded")
    assert event.actor == personas.owner and event.target == f"#{package.pk} mainland"
    assert event.after.startswith("5000 (") and "Asia/Shanghai" in event.after


def test_the_days_are_whole_days_in_the_accounts_time_zone(personas):
    personas.org.time_zone = "America/New_York"
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    form = PackageForm(form_data(valid_from="2026-12-01", months="12"), tz=personas.org.tz, now=now)

    assert form.is_valid(), form.errors
    fields = form.package_fields()
    assert fields["valid_from"] == datetime(2026, 12, 1, 5, tzinfo=UTC)  # New York midnight
    assert fields["valid_until"] == datetime(2027, 12, 1, 5, tzinfo=UTC)  # after 2027-11-30
    given = PackageForm(
        form_data(valid_from="2026-12-01", valid_until="2026-12-31"), tz=personas.org.tz, now=now
    )
    assert given.is_valid() and given.package_fields()["valid_until"] == datetime(
        2027, 1, 1, 5, tzinfo=UTC
    )


def test_months_end_on_the_months_last_day_when_it_has_no_such_day():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)


@pytest.mark.parametrize("who", ["member", "viewer", "admin"])
def test_only_the_owner_may_record_a_package(sms, login, personas, viewer, admin_user, who):
    user = {"member": personas.member, "viewer": viewer, "admin": admin_user}[who]
    client = login(user)
    counts = written(sms.account)

    assert client.get(url(sms.account, NEW)).status_code == 403
    assert client.post(url(sms.account, NEW), form_data()).status_code == 403

    assert written(sms.account) == counts
    page = client.get(url(sms.account)).content.decode()
    assert 'id="record-package"' not in page  # the page offers no form it would refuse


def test_an_outsider_gets_404_and_writes_nothing(sms, login, personas):
    client = login(personas.outsider)
    counts = written(sms.account)

    assert client.get(url(sms.account, NEW)).status_code == 404
    assert client.post(url(sms.account, NEW), form_data()).status_code == 404
    assert client.get(url(sms.account)).status_code == 404
    assert written(sms.account) == counts


def test_logged_out_posts_go_to_the_login(sms, client):
    answer = client.post(url(sms.account, NEW), form_data())
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert not Package.objects.filter(note="Order 2026-118").exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quantity": "0"}, "quantity", "greater than or equal to 1"),
        ({"quantity": "lots"}, "quantity", "Enter a whole number."),
        ({"quantity": "100000001"}, "quantity", "less than or equal to 100000000"),
        ({"region": "mars"}, "region", "Select a valid choice."),
        ({"valid_from": "2026-13-01"}, "valid_from", "Enter a valid date."),
        ({"valid_from": "0001-01-01"}, "valid_from", "Give a date between"),
        ({"months": "0"}, "months", "greater than or equal to 1"),
        ({"months": ""}, "months", "Give a validity in months, or a last day."),
        ({"valid_until": "2020-01-01"}, "valid_until", "cannot be before the first"),
        (
            {"valid_from": "2020-01-01", "valid_until": "2020-06-30"},
            "valid_until",
            "would have ended already",
        ),
        ({"valid_from": "2020-01-01", "months": "1"}, "months", "would have ended already"),
        ({"note": "x" * 201}, "note", "at most 200 characters"),
        ({"request_key": ""}, "request_key", "reload the page"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    sms, login, personas, changes, field, message
):
    counts = written(sms.account)

    answer = login(personas.owner).post(url(sms.account, NEW), form_data(**changes))

    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert list(errors) == [field] and message in " ".join(errors[field])
    assert message in answer.content.decode().replace("&#x27;", "'")
    assert written(sms.account) == counts


def test_posting_the_same_form_twice_records_one_package(sms, login, personas):
    client = login(personas.owner)
    data = form_data()
    counts = written(sms.account)

    first = client.post(url(sms.account, NEW), data)
    second = client.post(url(sms.account, NEW), data, follow=True)

    assert first.status_code == 302
    assert "already recorded; nothing was added" in second.content.decode()
    assert written(sms.account) == (counts[0] + 1, counts[1] + 1)
    # Another form (a new key) is another package.
    assert client.post(url(sms.account, NEW), form_data()).status_code == 302
    assert written(sms.account) == (counts[0] + 2, counts[1] + 2)


def test_a_forms_key_is_taken_once_by_the_database(sms):
    """Two posts racing past the first look-up: the unique key lets one insert win."""
    key = uuid.uuid4()
    Package.objects.create(
        account=sms.account,
        quantity=1,
        valid_until=timezone.now() + timedelta(days=1),
        request_key=key,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Package.objects.create(
            account=sms.account,
            quantity=1,
            valid_until=timezone.now() + timedelta(days=1),
            request_key=key,
        )


def test_the_first_day_is_offered_as_an_iso_date_in_every_language(sms, login, personas):
    """A date input drops a value that is not YYYY-MM-DD (e.g. a Chinese 2026/12/1)."""
    Preference.choose(personas.owner, "zh-hans")
    today = timezone.localtime(timezone.now(), sms.account.tz).date().isoformat()

    page = login(personas.owner).get(url(sms.account, NEW)).content.decode()

    assert '<html lang="zh-hans">' in page
    assert f'type="date" name="valid_from" value="{today}"' in page


def test_each_form_shown_carries_a_new_key(sms, login, personas):
    client = login(personas.owner)
    keys = {client.get(url(sms.account, NEW)).context["form"]["request_key"].value() for _ in "ab"}
    assert len(keys) == 2


# --------------------------------------------------------------------------------------------
# The page


def test_the_page_shows_balances_and_expiries_in_the_accounts_time_zone(sms, login, personas):
    personas.org.time_zone = "America/New_York"
    personas.org.save()
    now = timezone.now()
    Package.objects.filter(pk=sms.package.pk).update(used=250)
    soon = Package.objects.create(
        account=sms.account,
        quantity=100,
        valid_from=now - timedelta(days=300),
        valid_until=now + timedelta(days=10, hours=1),
    )
    gone = Package.objects.create(
        account=sms.account,
        quantity=100,
        valid_from=now - timedelta(days=400),
        valid_until=now - timedelta(days=5),
    )
    start = datetime(2026, 3, 1, 5, tzinfo=UTC)  # midnight in New York
    later = Package.objects.create(
        account=sms.account,
        region="global",
        quantity=40,
        valid_from=start,
        valid_until=start + timedelta(days=3650),
    )

    page = login(personas.member).get(url(sms.account)).content.decode()

    assert "in the account's time zone, America/New_York" in page
    balance = page.split('id="balance-mainland"')[1].split("</section>")[0]
    # Valid now: the fixture's 1,000 (250 used) and the 100 ending soon; not the expired one.
    assert "<dd>1,100</dd>" in balance and "<dd>250 (23 % used)</dd>" in balance
    assert "<dd>850</dd>" in balance
    row = page.split(f'id="package-{soon.pk}"')[1].split("</tr>")[0]
    assert "Expires soon" in row and "expires in 10 days" in row
    assert f'class="package-expiring" id="package-{soon.pk}"' in page
    row = page.split(f'id="package-{gone.pk}"')[1].split("</tr>")[0]
    assert "Expired" in row and "expires in" not in row
    row = page.split(f'id="package-{later.pk}"')[1].split("</tr>")[0]
    assert "2026-03-01 00:00" in row  # in New York, not 05:00 UTC
    own = page.split(f'id="package-{sms.package.pk}"')[1].split("</tr>")[0]
    assert "package-valid" in page and "Expires soon" not in own


def test_the_owner_is_offered_the_form_on_the_page(sms, login, personas):
    page = login(personas.owner).get(url(sms.account)).content.decode()
    assert f'href="{url(sms.account, NEW)}"' in page


def test_the_banner_warns_of_a_package_with_parts_left_ending_within_a_week(sms, login, personas):
    now = timezone.now()
    ending = Package.objects.create(
        account=sms.account,
        region="global",
        quantity=30,
        used=10,
        valid_until=now + timedelta(days=6),
    )
    client = login(personas.member)

    text = client.get(url(sms.account, "records/")).content.decode()
    assert "SMS package ends on" in text and "with 20 parts left" in text

    Package.objects.filter(pk=ending.pk).update(used=30)  # spent: nothing is lost
    assert "SMS package ends on" not in client.get(url(sms.account, "records/")).content.decode()
    Package.objects.filter(pk=ending.pk).update(used=10, valid_until=now + timedelta(days=8))
    assert "SMS package ends on" not in client.get(url(sms.account, "records/")).content.decode()


# --------------------------------------------------------------------------------------------
# Warnings


def at_level(sms, used):
    Package.objects.filter(pk=sms.package.pk).update(quantity=100, used=used)


def test_each_recipient_is_warned_in_their_own_language(sms, personas, admin_user):
    Preference.choose(admin_user, "zh-hans")
    at_level(sms, 85)

    assert quota.check_alerts(sms.account, "mainland") == "low"

    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {personas.owner.email, admin_user.email}  # not the operator
    english, chinese = by_address[personas.owner.email], by_address[admin_user.email]
    assert english.subject == "[pushconsole] Acme: the Chinese mainland SMS packages are 85 % used"
    assert "85 % used: 15 of 100 parts left." in english.body
    link = f"http://127.0.0.1:8000/a/{sms.account.pk}/sms/packages/"
    assert link in english.body and link in chinese.body
    assert chinese.subject == "[pushconsole] Acme：国内短信套餐包已使用 85%"
    assert "剩余 15 条（共 100 条）" in chinese.body and "insufficient_package" in chinese.body


def test_the_exhausted_warning_says_sends_are_blocked(sms, personas):
    at_level(sms, 100)

    assert quota.check_alerts(sms.account, "mainland") == "exhausted"

    [message] = mail.outbox
    assert message.subject == "[pushconsole] Acme: the Chinese mainland SMS packages are exhausted"
    assert "blocked as insufficient_package until a new package is recorded" in message.body


def test_the_link_uses_the_configured_console_address(sms, settings):
    settings.CONSOLE_URL = "https://push.example.com"
    at_level(sms, 90)
    quota.check_alerts(sms.account, "mainland")
    assert f"https://push.example.com/a/{sms.account.pk}/sms/packages/" in mail.outbox[0].body


def test_one_email_per_level(sms, personas):
    at_level(sms, 80)
    assert quota.check_alerts(sms.account, "mainland") == "low"
    at_level(sms, 95)
    assert quota.check_alerts(sms.account, "mainland") is None  # still "low": said already
    at_level(sms, 100)
    assert quota.check_alerts(sms.account, "mainland") == "exhausted"
    assert quota.check_alerts(sms.account, "mainland") is None

    assert [m.subject.rsplit(" ", 1)[-1] for m in mail.outbox] == ["used", "exhausted"]
    assert QuotaAlert.objects.filter(account=sms.account).count() == 2


def test_a_package_recorded_in_the_console_rearms_the_warnings(sms, login, personas):
    at_level(sms, 85)
    assert quota.check_alerts(sms.account, "mainland") == "low"
    assert quota.check_alerts(sms.account, "mainland") is None
    data = form_data(quantity="5")  # 85 of 105 parts used: still "low", a new purchase

    assert login(personas.owner).post(url(sms.account, NEW), data).status_code == 302

    assert quota.check_alerts(sms.account, "mainland") == "low"
    assert quota.check_alerts(sms.account, "mainland") is None
    assert len(mail.outbox) == 2 and "81 % used" in mail.outbox[1].subject

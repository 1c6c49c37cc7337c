"""Packages: the account's prepaid SMS parts, consumed earliest expiry first.

Consumption happens inside the transaction that writes the SmsMessage rows, with the account's
valid packages of the region locked, so a crash can neither spend without a record nor record
without spending, and two workers cannot spend the same parts.
"""

import logging
from collections import defaultdict

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.audit import AuditEvent
from accounts.audit import record as audit
from accounts.models import Role
from accounts.preferences import Preference

from .models import Package, PackageCharge, PackageExpiryNotice, QuotaAlert, Region, SmsMessage

log = logging.getLogger(__name__)

LOW_RATIO = 0.8


class Wallet:
    """The locked, valid packages of one account and region, for one transaction.

    With ``lock=False`` it only reads them (a quote: ``sending.quote``): it takes parts the
    same way and must not be committed."""

    def __init__(self, account, region, now, *, lock: bool = True):
        self.account, self.region, self.now, self.locked = account, region, now, lock
        packages = Package.objects.valid(now).filter(account=account, region=region)
        if lock:
            packages = packages.select_for_update()
        self.packages = list(packages.order_by("valid_until", "id"))
        self.spent: dict[int, int] = defaultdict(int)
        self.left = sum(max(p.left, 0) for p in self.packages)  # kept as parts are taken

    def take(self, fee: int) -> list[tuple[Package, int]] | None:
        """Parts for one message (all or nothing), earliest expiry first; None if short."""
        if fee > self.left:
            return None
        self.left -= fee
        taken, need = [], fee
        for package in self.packages:
            available = package.left - self.spent[package.id]
            if available <= 0:
                continue
            amount = min(available, need)
            self.spent[package.id] += amount
            taken.append((package, amount))
            need -= amount
            if not need:
                break
        return taken

    def commit(self) -> None:
        """Write what was taken (one UPDATE per touched package: a handful at most)."""
        if not self.locked:
            raise RuntimeError("a wallet read without locking its packages cannot spend")
        for package in self.packages:
            if self.spent[package.id]:
                Package.objects.filter(pk=package.id).update(
                    used=F("used") + self.spent[package.id]
                )
        # The owners are warned (``check_alerts``, after the commit) once the balance reaches a
        # level: the locked packages are every valid one of the region, so their totals are
        # what ``usage`` would read, and below the first level there is nothing to look up.
        spent = sum(self.spent.values())
        totals = _totals(
            sum(p.quantity for p in self.packages), sum(p.used for p in self.packages) + spent
        )
        if spent and level_of(totals) is not None:
            transaction.on_commit(
                lambda: check_alerts(self.account, self.region, now=self.now), robust=True
            )


def refund(messages) -> None:
    """Give back the parts charged for messages that were not sent (failed before the provider)."""
    ids = [m.pk for m in messages if m.charged]
    if not ids:
        return
    with transaction.atomic():
        per_package = (
            PackageCharge.objects.filter(message_id__any=ids)
            .values("package_id")
            .annotate(total=Sum("amount"))
        )
        for row in per_package:
            Package.objects.filter(pk=row["package_id"]).update(used=F("used") - row["total"])
        PackageCharge.objects.filter(message_id__any=ids).delete()
        SmsMessage.objects.filter(pk__any=ids).update(charged=0)
    for message in messages:
        message.charged = 0


def _totals(quantity: int, used: int) -> dict:
    return {
        "quantity": quantity,
        "used": used,
        "left": quantity - used,
        "ratio": used / quantity if quantity else None,
    }


def usage(account, region, now=None) -> dict:
    """Quantity, used and left over the valid packages of a region."""
    totals = (
        Package.objects.valid(now)
        .filter(account=account, region=region)
        .aggregate(quantity=Coalesce(Sum("quantity"), 0), used=Coalesce(Sum("used"), 0))
    )
    return _totals(totals["quantity"], totals["used"])


def usage_by_region(account, now=None) -> dict[str, dict]:
    """``usage`` of every region (in ``Region`` order, zeros where nothing is valid): one query."""
    rows = (
        Package.objects.valid(now)
        .filter(account=account)
        .order_by()
        .values("region")
        .annotate(quantity=Sum("quantity"), used=Sum("used"))
    )
    found = {row["region"]: row for row in rows}
    return {
        region: _totals(found[region]["quantity"], found[region]["used"])
        if region in found
        else _totals(0, 0)
        for region in Region.values
    }


def level_of(totals) -> str | None:
    if totals["quantity"] and totals["left"] <= 0:
        return QuotaAlert.Level.EXHAUSTED
    if totals["ratio"] is not None and totals["ratio"] >= LOW_RATIO:
        return QuotaAlert.Level.LOW
    return None


def check_alerts(account, region, now=None) -> str | None:
    """Warn the owner and admins once per level since the region's last purchase (80 % used,
    exhausted): a package recorded later (``record_package``) starts the levels afresh."""
    now = now or timezone.now()
    totals = usage(account, region, now)
    level = level_of(totals)
    if level is None:
        return None
    last_purchase = (
        Package.objects.filter(account=account, region=region)
        .order_by("-purchased_at")
        .values_list("purchased_at", flat=True)
        .first()
    )
    already = QuotaAlert.objects.filter(account=account, region=region, level=level)
    if last_purchase:
        already = already.filter(created_at__gte=last_purchase)
    if already.exists():
        return None
    QuotaAlert.objects.create(account=account, region=region, level=level, created_at=now)
    send_alert_emails(account, region, level, totals)
    log.info("quota alert %s for account %s region %s", level, account.pk, region)
    return level


# Who is warned: the members who can act on it (the owner records packages; admins run the
# account and are told too).
ALERT_ROLES = (Role.OWNER, Role.ADMIN)


def alert_recipients(account) -> list[tuple[str, str]]:
    """(e-mail address, language) of each member warned: the language the member chose in
    the console, else the site's default (an account has no language of its own)."""
    members = list(
        account.memberships.filter(role__in=ALERT_ROLES)
        .exclude(user__email="")
        .order_by("user_id")
        .values_list("user_id", "user__email")
    )
    languages = Preference.languages_of(user for user, _ in members)
    return [(email, languages[user]) for user, email in members]


def send_to_alert_recipients(account, template: str, context) -> int:
    """E-mail the members warned of the account's packages (``alert_recipients``), each in
    the member's language and in the account's time zone: ``template`` names the pair
    ``<template>_subject.txt`` / ``<template>.txt``; ``context()`` gives what they read,
    built afresh in each language. How many went out; a failure is logged, not raised (what
    was sent is recorded by the caller, and the banner shows it anyway)."""
    messages = []
    for email, language in alert_recipients(account):
        with translation.override(language), timezone.override(account.tz):
            values = context()
            subject = render_to_string(f"{template}_subject.txt", values)
            body = render_to_string(f"{template}.txt", values)
        messages.append(
            EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [email])
        )
    if not messages:
        return 0
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:
        log.exception("%s e-mails of account %s could not be sent", template, account.pk)
        return 0


def packages_link(account) -> str:
    return settings.CONSOLE_URL + reverse("sms_packages", kwargs={"account_id": account.pk})


def send_alert_emails(account, region: str, level: str, totals: dict) -> int:
    """The balance warning (``check_alerts``) to each recipient; how many went out."""
    return send_to_alert_recipients(
        account,
        "sms/email/quota_alert",
        lambda: {
            "account": account.name,
            "region": str(Region(region).label),
            "exhausted": level == QuotaAlert.Level.EXHAUSTED,
            "percent": round(100 * totals["ratio"]) if totals["ratio"] is not None else 100,
            "link": packages_link(account),
            **totals,
        },
    )


def warn_expiring_packages(now=None) -> int:
    """E-mail the owners and admins of every package with parts left that ends within
    ``EXPIRY_WARNING`` (its parts are lost then), once per package; how many packages were
    warned of. The warning is recorded before the e-mails go (``PackageExpiryNotice.claim``),
    so two workers running this at once warn of a package once."""
    now = now or timezone.now()
    due = (
        Package.objects.expiring_with_balance(now)
        .filter(expiry_notice__isnull=True)
        .select_related("account")
        .order_by("valid_until", "id")
    )
    warned = 0
    for package in due:
        notice = PackageExpiryNotice.claim(package, now=now)
        if notice is None:  # another worker warns of it
            continue
        notice.emails = send_expiry_emails(package)
        notice.save(update_fields=["emails"])
        warned += 1
    return warned


def send_expiry_emails(package) -> int:
    """The expiry warning of one package to each recipient; how many went out."""
    account = package.account
    return send_to_alert_recipients(
        account,
        "sms/email/package_expiry",
        lambda: {
            "account": account.name,
            "region": str(package.get_region_display()),
            "left": package.left,
            "quantity": package.quantity,
            "valid_until": package.valid_until,
            "link": packages_link(account),
        },
    )


def _period(quantity: int, valid_from, valid_until, account) -> str:
    def local(moment):
        return f"{timezone.localtime(moment, account.tz):%Y-%m-%d %H:%M}"

    return f"{quantity} ({local(valid_from)} – {local(valid_until)}, {account.time_zone})"


def record_package(
    account,
    *,
    by,
    region: str,
    quantity: int,
    valid_from,
    valid_until,
    note: str = "",
    request_key=None,
    now=None,
) -> tuple[Package, bool]:
    """Record a purchased package, with its audit event, in one transaction; (package, True).

    A ``request_key`` already used for the account (the same form posted twice) records
    nothing and gives (the package it recorded, False). The purchase time is ``now``, which
    starts the region's warnings afresh (``check_alerts``)."""
    now = now or timezone.now()
    if request_key is not None:
        found = Package.objects.filter(account=account, request_key=request_key).first()
        if found is not None:
            return found, False
    try:
        with transaction.atomic():
            package = Package.objects.create(
                account=account,
                region=region,
                quantity=quantity,
                valid_from=valid_from,
                valid_until=valid_until,
                purchased_at=now,
                note=note,
                created_by=by,
                request_key=request_key,
            )
            audit(
                account,
                by,
                AuditEvent.Action.SMS_PACKAGE_RECORDED,
                target=f"#{package.pk} {region}",
                after=_period(quantity, valid_from, valid_until, account),
                detail={"package": package.pk, "note": note},
                now=now,
            )
    except IntegrityError:
        # Both posts of a double click at once: the other one's insert won the unique key.
        found = Package.objects.filter(account=account, request_key=request_key).first()
        if request_key is None or found is None:
            raise
        return found, False
    return package, True

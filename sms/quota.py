"""Packages: the account's prepaid SMS parts, consumed earliest expiry first.

Consumption happens inside the transaction that writes the SmsMessage rows, with the account's
valid packages of the region locked, so a crash can neither spend without a record nor record
without spending, and two workers cannot spend the same parts.
"""

import logging
from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Role

from .models import Package, PackageCharge, QuotaAlert, Region, SmsMessage

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
    """Warn the owners once per level since the last purchase (80 % used, exhausted)."""
    now = now or timezone.now()
    level = level_of(usage(account, region, now))
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
    owners = list(
        account.memberships.filter(role__in=[Role.OWNER, Role.ADMIN])
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    label = dict(QuotaAlert.Level.choices)[level]
    if owners:
        send_mail(
            f"[pushconsole] {account.name}: {region} SMS package {label.lower()}",
            f"The {region} SMS packages of {account.name} are {label.lower()}.\n"
            "Supplementary SMS and API sends are blocked as insufficient_package once the "
            "balance is exhausted. Buy a new package to keep sending.",
            settings.DEFAULT_FROM_EMAIL,
            owners,
            fail_silently=True,
        )
    log.info("quota alert %s for account %s region %s", level, account.pk, region)
    return level

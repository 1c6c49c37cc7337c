"""Console pages of an account's SMS packages: the balances and packages, and the form the
owner records a purchased package with. The rules live in ``sms.quota`` (balances, warnings,
``record_package``) and on ``Package`` (its state, the days it has left)."""

from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.decorators import account_view
from accounts.models import Role
from lib.paging import CappedPaginator

from . import quota
from .context_processors import sms_usage
from .models import Package, PackageCharge, Region
from .package_forms import PackageForm

PAGE_SIZE = 50
# Recording a purchase states what the account paid for: the owner's, as the issue asks; an
# admin sees the same page without the form.
RECORDING_ROLE = Role.OWNER


@account_view()
def packages(request):
    account, now = request.account, timezone.now()
    regions = [
        {
            "region": Region(region),
            "level": quota.level_of(totals),
            "percent": round(100 * totals["ratio"]) if totals["ratio"] is not None else None,
            **totals,
        }
        for region, totals in sms_usage(request).items()
    ]
    listed = Package.objects.filter(account=account).order_by("-purchased_at", "-id")
    page = CappedPaginator(listed.select_related("created_by"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    charges = (
        PackageCharge.objects.filter(package__account=account)
        .select_related("message", "package")
        .order_by("-at")[:50]
    )
    return render(
        request,
        "sms/packages.html",
        {
            "regions": regions,
            "page": page,
            "rows": [(p, p.state(now), p.days_left(now)) for p in page],
            "charges": charges,
            "can_record": request.membership.has_role(RECORDING_ROLE),
        },
    )


@account_view(RECORDING_ROLE)
def record_package(request):
    now = timezone.now()
    form = PackageForm(request.POST or None, tz=request.account.tz, now=now)
    if request.method == "POST" and form.is_valid():
        package, created = quota.record_package(
            request.account, by=request.user, now=now, **form.package_fields()
        )
        if created:
            messages.success(
                request,
                _("Recorded %(quantity)s %(region)s SMS parts.")
                % {"quantity": intcomma(package.quantity), "region": package.get_region_display()},
            )
        else:
            messages.info(request, _("This package was already recorded; nothing was added."))
        return redirect("sms_packages", account_id=request.account.pk)
    return render(
        request, "sms/package_new.html", {"form": form}, status=400 if form.errors else 200
    )

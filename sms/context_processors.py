from .models import Package, Region
from .quota import level_of, usage_by_region


def sms_usage(request) -> dict[str, dict]:
    """``quota.usage_by_region`` of the request's account, computed once per request: the quota
    banner and a page that shows the balance share it (``request._sms_usage``)."""
    cached = getattr(request, "_sms_usage", None)
    if cached is None:
        cached = request._sms_usage = usage_by_region(request.account)
    return cached


def quota_banner(request):
    """Warn on every page of an account whose package balance is 80 % used or exhausted, or
    that has a package with parts left ending within ``EXPIRY_WARNING`` (7 days)."""
    account = getattr(request, "account", None)
    if account is None:
        return {}
    banners = []
    for region, totals in sms_usage(request).items():
        level = level_of(totals)
        if level:
            banners.append({"region": Region(region).label, "level": level, **totals})
    # A package whose parts are lost within days, unless they are spent first.
    for package in Package.objects.expiring_with_balance().filter(account=account):
        banners.append(
            {
                "region": package.get_region_display(),
                "level": "expiring",
                "left": package.left,
                "valid_until": package.valid_until,
            }
        )
    return {"quota_banners": banners}

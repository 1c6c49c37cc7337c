from .models import Region
from .quota import level_of, usage_by_region


def sms_usage(request) -> dict[str, dict]:
    """``quota.usage_by_region`` of the request's account, computed once per request: the quota
    banner and a page that shows the balance share it (``request._sms_usage``)."""
    cached = getattr(request, "_sms_usage", None)
    if cached is None:
        cached = request._sms_usage = usage_by_region(request.account)
    return cached


def quota_banner(request):
    """Warn on every page of an account whose package balance is 80 % used or exhausted."""
    account = getattr(request, "account", None)
    if account is None:
        return {}
    banners = []
    for region, totals in sms_usage(request).items():
        level = level_of(totals)
        if level:
            banners.append({"region": Region(region).label, "level": level, **totals})
    return {"quota_banners": banners}

from .models import Region
from .quota import level_of, usage


def quota_banner(request):
    """Warn on every page of an account whose package balance is 80 % used or exhausted."""
    account = getattr(request, "account", None)
    if account is None:
        return {}
    banners = []
    for region in Region:
        totals = usage(account, region)
        level = level_of(totals)
        if level:
            banners.append({"region": region.label, "level": level, **totals})
    return {"quota_banners": banners}

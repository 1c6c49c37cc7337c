"""The console shell: where a signed-in user lands, and the account overview."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.decorators import account_view
from accounts.models import ApiKeyPair, Membership

from . import dashboard


@login_required
def home(request):
    """Go to the account used last, else the first one; a user with none is told so."""
    memberships = Membership.objects.filter(user=request.user)
    last = request.session.get("account_id")
    chosen = memberships.filter(account_id=last).first() or memberships.first()
    if chosen is None:
        return render(request, "pushconsole/no_account.html")
    return redirect("overview", account_id=chosen.account_id)


@account_view()
def overview(request):
    """The dashboard: today / 7 / 30 days of pushes and SMS, with charts, and the account."""
    account = request.account
    period = dashboard.normalize_period(request.GET.get("period"))
    now = timezone.now()
    days = dashboard.period_days(account, period, now)
    live = dashboard.today(account, now)
    return render(
        request,
        "pushconsole/overview.html",
        {
            "period": period,
            "periods": dashboard.period_choices(),
            "period_label": dashboard.PERIODS[period].label,
            "since": days[0].isoformat(),
            "until": days[-1].isoformat(),
            "figures": dashboard.figures(account, period, now, live),
            "today": live,
            "breakdown": dashboard.breakdown(account, period, now, live),
            "series": dashboard.series(account, period, now, live),
            "chart_labels": {**dashboard.chart_labels(), "period": dashboard.PERIODS[period].label},
            "members": account.memberships.select_related("user").order_by("user__username"),
            "auth": account.find_authorization(),
            "my_key_count": ApiKeyPair.objects.filter(user=request.user).count(),
            "key_limit": ApiKeyPair.MAX_PER_USER,
        },
    )


@account_view()
def dashboard_series(request):
    """Per-day series of the period and per-hour series of today, for the dashboard's charts."""
    period = dashboard.normalize_period(request.GET.get("period"))
    return JsonResponse(dashboard.series(request.account, period))


SWEEP_MAX_AGE = 300  # seconds; the fallback sweep runs every minute


def healthz(request):
    """For load balancers and supervisors: database, task broker, the long-poll server (when
    ``SDK_POLL_URL`` names it), age of the last SMS sweep.

    503 when the database or the broker does not answer; with ``?require=sweep`` also when the
    supplementary-SMS sweep has not finished for SWEEP_MAX_AGE seconds (workers down).
    """
    from push.models import SweepRun

    checks, ok = {}, True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any database failure means unhealthy
        checks["database"], ok = f"error: {exc}", False
    checks["broker"] = _broker_status()
    ok = ok and checks["broker"] == "ok"
    if settings.SDK_POLL_URL:  # the long-poll server beside this one (deploy/)
        checks["poll"] = _poll_status()
        ok = ok and checks["poll"] == "ok"
    last = SweepRun.objects.filter(name="fallback").first() if checks["database"] == "ok" else None
    age = (timezone.now() - last.finished_at).total_seconds() if last else None
    checks["fallback_sweep_age_seconds"] = None if age is None else round(age)
    if request.GET.get("require") == "sweep" and (age is None or age > SWEEP_MAX_AGE):
        ok = False
    return JsonResponse({"ok": ok, **checks}, status=200 if ok else 503)


def _poll_status() -> str:
    import httpx

    try:
        answer = httpx.get(f"{settings.SDK_POLL_URL.rstrip('/')}/healthz/poll", timeout=2)
    except httpx.HTTPError as exc:
        return f"error: {exc}"
    if answer.status_code != 200:
        return f"error: {answer.status_code} {answer.text[:200]}"
    return "ok"


def _broker_status() -> str:
    if not settings.REDIS_URL:
        return "ok"  # the ORM broker is the database
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"error: {exc}"
    return "ok"

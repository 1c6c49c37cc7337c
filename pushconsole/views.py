"""The console shell: where a signed-in user lands, and the account overview."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from accounts.decorators import account_view
from accounts.models import ApiKeyPair, Membership, TencentCloudAuthorization


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
    account = request.account
    return render(
        request,
        "pushconsole/overview.html",
        {
            "members": account.memberships.select_related("user").order_by("user__username"),
            "auth": TencentCloudAuthorization.objects.filter(account=account).first(),
            "my_key_count": ApiKeyPair.objects.filter(user=request.user).count(),
            "key_limit": ApiKeyPair.MAX_PER_USER,
        },
    )


def healthz(request):
    """For load balancers and supervisors: 200 when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means unhealthy
        return JsonResponse({"ok": False, "database": str(exc)}, status=503)
    return JsonResponse({"ok": True, "database": "ok"})

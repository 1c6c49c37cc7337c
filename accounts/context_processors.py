from .models import Membership


def memberships(request):
    """The signed-in user's accounts, for the account switcher in the console's navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "my_memberships": Membership.objects.filter(user=user).select_related("account"),
        "current_account": getattr(request, "account", None),
        "current_membership": getattr(request, "membership", None),
    }

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.utils import timezone

from .models import Membership, Role


def account_view(minimum: str = Role.VIEWER):
    """A console view of one account (``account_id`` in the URL).

    Someone who is not a member gets a 404, as if the account did not exist; a member whose
    role is too low gets a 403. Sets ``request.account`` and ``request.membership`` and
    remembers the account as the user's current one.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, account_id, *args, **kwargs):
            membership = Membership.objects.of(request.user, account_id)
            if membership is None:
                raise Http404("No such account.")
            membership.require(minimum)
            request.membership, request.account = membership, membership.account
            # Only a change is written, so viewing pages does not rewrite the session each time.
            if request.session.get("account_id") != membership.account_id:
                request.session["account_id"] = membership.account_id
            # Times on the account's pages are shown in the account's time zone.
            with timezone.override(membership.account.tz):
                return view(request, *args, **kwargs)

        return wrapper

    return decorator

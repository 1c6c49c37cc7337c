"""The answer to a console or admin login that django-axes locked out (``AXES_LOCKOUT_CALLABLE``).

429 with ``Retry-After``: the username or the client address failed ``LOGIN_FAILURE_LIMIT``
times within ``LOGIN_LOCKOUT_SECONDS``. The password was not checked (nor hashed): the axes
backend refuses before the model backend runs. Every attempt during the lockout starts the
cool-off again, so the wait is the whole cool-off.
"""

from django.conf import settings
from django.shortcuts import render


def login_locked_out(request, original_response=None, credentials=None):
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": max(1, round(seconds / 60))},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response

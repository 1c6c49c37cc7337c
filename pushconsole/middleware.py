"""Per-request language and time zone of the console.

Language: ``LocaleMiddleware`` (before this one) picks the browser's language from
``Accept-Language`` or the language cookie; ``UserLanguageMiddleware`` then applies the
language the signed-in user chose (``accounts.Preference``), read once per login into the
session. The machine-facing APIs (TPNS ``/v3/``, the SDK, vendors' callbacks) answer in English
whatever the client's headers say: their messages are part of a wire format.

Time zone: pages of an account show its times in the account's time zone
(``Account.time_zone``); other pages (API keys, the admin) in the zone of the account the user
used last, else UTC. ``base.html`` labels the zone in use.
"""

from django.utils import timezone, translation

from accounts.models import Membership
from accounts.preferences import SESSION_KEY, Preference

# Paths whose answers are a wire format: never translated.
MACHINE_PATHS = ("/v3/", "/sdk/", "/callbacks/")


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(MACHINE_PATHS):
            language = "en"
        else:
            language = self.chosen_language(request)
        request.user_language = language  # the header's switcher shows it
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
            response.headers.setdefault("Content-Language", translation.get_language())
            return response
        finally:
            # What runs after the request on this thread (a test's code, a task) starts from
            # the default language again, as it would in a worker.
            translation.deactivate()

    @staticmethod
    def chosen_language(request) -> str:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return ""
        language = request.session.get(SESSION_KEY)
        if language is None:  # first request of this login: read the preference once
            language = Preference.language_of(user)
            request.session[SESSION_KEY] = language
        return language


class AccountTimeZoneMiddleware:
    """Pages of an account already run in its zone (``accounts.decorators.account_view``, which
    checks the membership anyway); every other page gets the zone of the account used last."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            # Nothing carries over to the next request on this thread (or to a test's code).
            timezone.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "account_id" in view_kwargs:
            return None
        zone = self.zone_of(request)
        if zone is not None:
            timezone.activate(zone)
        return None

    @staticmethod
    def zone_of(request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        account_id = request.session.get("account_id")
        if account_id is None:
            return None
        membership = Membership.objects.of(user, account_id)
        return membership.account.tz if membership else None

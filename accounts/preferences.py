"""A signed-in person's own settings: the console's language.

Kept apart from the tenants (``accounts.models``): it belongs to the user, not to an account.
``pushconsole.middleware.UserLanguageMiddleware`` applies it on every request once the user
is logged in; with none chosen the browser's language (``Accept-Language``) decides.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# The session key holding the user's chosen language ("" for "as the browser says"), so the
# preference is read from the database once per login, not on every request.
SESSION_KEY = "console_language"


class Preference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Empty: the browser's language."),
    )

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self):
        return f"{self.user}: {self.language or 'browser'}"

    @classmethod
    def language_of(cls, user) -> str:
        """The user's chosen language code, or "" when they have chosen none."""
        return cls.objects.filter(user=user).values_list("language", flat=True).first() or ""

    @classmethod
    def languages_of(cls, user_ids) -> dict[int, str]:
        """user id → the language to write to that user in (an e-mail, sent outside any
        request of theirs): the one they chose in the console, else the site's default. One
        query, for all of them."""
        user_ids = list(user_ids)
        chosen = dict(
            cls.objects.filter(user_id__in=user_ids)
            .exclude(language="")
            .values_list("user_id", "language")
        )
        return {pk: chosen.get(pk, settings.LANGUAGE_CODE) for pk in user_ids}

    @classmethod
    def language_for_email(cls, email: str, default: str) -> str:
        """The language to write to an address in: its user's choice (an active user with
        that address who chose one), else ``default``."""
        found = (
            cls.objects.filter(user__email__iexact=email, user__is_active=True)
            .exclude(language="")
            .order_by("user_id")
            .values_list("language", flat=True)
            .first()
        )
        return found or default

    @classmethod
    def choose(cls, user, language: str) -> None:
        cls.objects.update_or_create(user=user, defaults={"language": language})


def remember_language(request, language: str) -> None:
    """Apply ``language`` ("" for the browser's) to the rest of this session."""
    request.session[SESSION_KEY] = language

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
    def choose(cls, user, language: str) -> None:
        cls.objects.update_or_create(user=user, defaults={"language": language})


def remember_language(request, language: str) -> None:
    """Apply ``language`` ("" for the browser's) to the rest of this session."""
    request.session[SESSION_KEY] = language

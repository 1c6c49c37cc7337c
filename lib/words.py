"""A refusal's words, said twice: in English to the APIs, in the reader's language on pages.

The APIs' error messages are English whatever the client asks (their clients compare them, and
tests pin their bytes); the console shows the same refusal translated. One message and its
values serve both, so the two cannot drift apart:

    words = Words(gettext_lazy("%(code)s takes %(n)s parameter(s)"), code="449739", n=2)
    words.english()   # "449739 takes 2 parameter(s)"
    words.say()       # in the active language

A value may be a lazy string (a label) or a callable taking no argument, evaluated in the
language being spoken (``lambda: template.get_status_display().lower()``).
"""

from django.utils import translation


class Words:
    __slots__ = ("text", "values")

    def __init__(self, message, /, **values):
        self.text, self.values = message, values

    def say(self) -> str:
        """In the active language."""
        values = {k: (v() if callable(v) else v) for k, v in self.values.items()}
        return str(self.text) % {k: str(v) for k, v in values.items()} if values else str(self.text)

    def english(self) -> str:
        with translation.override("en"):
            return self.say()

    def __str__(self) -> str:
        return self.english()

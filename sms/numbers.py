"""Phone numbers: parsed and normalised to E.164 with phonenumbers.

A number without a country code is taken as Chinese (+86), as the TPNS Android SDK does.
"""

import phonenumbers
from django.utils.translation import gettext_lazy as _

from lib.masking import mask_number
from lib.words import Words


class InvalidNumber(ValueError):
    """``str()`` is the APIs' English; ``for_people()`` the reader's language."""

    def __init__(self, words: Words):
        super().__init__(words.english())
        self.words = words

    def for_people(self) -> str:
        return self.words.say()


def normalize(raw: str, default_region: str = "CN") -> str:
    text = str(raw).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(Words(_("%(raw)s is not a phone number"), raw=repr(raw))) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(Words(_("%(raw)s is not a valid phone number"), raw=repr(raw)))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str) -> str:
    """+8613711112222 → +86137****2222 (for pages where the full number is not needed)."""
    return mask_number(number)

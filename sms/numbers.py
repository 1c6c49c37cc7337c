"""Phone numbers: parsed and normalised to E.164 with phonenumbers.

A number without a country code is taken as Chinese (+86), as the TPNS Android SDK does.
"""

import phonenumbers

from lib.masking import mask_number


class InvalidNumber(ValueError):
    pass


def normalize(raw: str, default_region: str = "CN") -> str:
    text = str(raw).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str) -> str:
    """+8613711112222 → +86137****2222 (for pages where the full number is not needed)."""
    return mask_number(number)

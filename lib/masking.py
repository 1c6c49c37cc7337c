"""Personal data, and what it looks like to a member who may not see it in full.

Three kinds of value identify a person: phone numbers, device tokens (an address a push can be
sent to) and what an SMS said (its content and template parameters). *Who* sees them in full is
one rule, ``accounts.models.Membership.masking`` (operators and above); *how* they are masked is
this module. Every outlet — the console pages, the management API and every CSV export — takes
a ``Masking`` from the membership and passes each personal value through it, so no outlet can
show more than another.

A masked value keeps what a viewer needs to follow the figures (the country code and the last
digits of a number, the ends of a token, the template's own text) and drops the rest. This
module imports no app.
"""

from dataclasses import dataclass

HIDDEN = "****"
# What a template parameter becomes in masked content: the template's own text stays readable.
HIDDEN_PARAM = "***"


# A masked number shows its last this many digits (and what comes before the hidden four).
SHOWN_LAST_DIGITS = 4


def mask_number(number: str) -> str:
    """+8613711112222 → +86137****2222."""
    if len(number) < 8:
        return number
    return number[:-8] + HIDDEN + number[-SHOWN_LAST_DIGITS:]


# A token this long shows its first and last TOKEN_SHOWN characters masked, a shorter one only
# its first TOKEN_SHOWN_SHORT.
LONG_TOKEN, TOKEN_SHOWN, TOKEN_SHOWN_SHORT = 16, 4, 2


def mask_token(token: str) -> str:
    """The first and last four characters of a long token (enough to tell two apart on a page),
    only the first two of a short one."""
    if not token:
        return token
    if len(token) >= LONG_TOKEN:
        return token[:TOKEN_SHOWN] + HIDDEN + token[-TOKEN_SHOWN:]
    return token[:TOKEN_SHOWN_SHORT] + HIDDEN


def mask_params(params) -> list:
    return [HIDDEN_PARAM for _ in params or ()]


def mask_content(content: str, params) -> str:
    """The SMS text with every template parameter's value replaced (longest first, so a value
    inside another is not left half-shown). The signature and the template's text are not
    personal: they are what every recipient of that template read."""
    for value in sorted({str(p) for p in params or () if str(p)}, key=len, reverse=True):
        content = content.replace(value, HIDDEN_PARAM)
    return content


@dataclass(frozen=True)
class Masking:
    """Personal values as one member may see them: unchanged when ``reveal``, masked otherwise."""

    reveal: bool

    def number(self, number: str) -> str:
        return number if self.reveal or not number else mask_number(number)

    def token(self, token: str) -> str:
        return token if self.reveal else mask_token(token)

    def params(self, params) -> list:
        return list(params or ()) if self.reveal else mask_params(params)

    def content(self, content: str, params) -> str:
        return content if self.reveal or not content else mask_content(content, params)


FULL = Masking(reveal=True)
MASKED = Masking(reveal=False)

"""Ids given as text (an AccessID, a pushId, an admin search term): decimal digits that fit a
BigIntegerField, the type of every id they name. Anything else names nothing, so callers answer
"not found" (never a database error for an overflowing number)."""

# Every number of up to 18 digits is below 2**63 - 1 (a 19-digit number), so it fits.
BIGINT_DIGITS = 18


def bigint_id(text: str) -> int | None:
    """The id ``text`` spells (only decimal digits, at most ``BIGINT_DIGITS`` of them), else
    None."""
    if text.isdecimal() and len(text) <= BIGINT_DIGITS:
        return int(text)
    return None

"""The TPNS-compatible server API (``/v3/...``) that existing TPNS customers' server code calls.

Every answer is JSON in TPNS's shape, errors included. TPNS itself is inconsistent about casing
and we keep it, because clients parse it: the push and account-binding APIs answer
``{"ret_code", "err_msg"}`` (the push API also echoes ``seq``), the account query and the
statistics APIs answer ``{"retCode", "errMsg"}`` (reference §2).

``auth`` checks the app's AccessID and SecretKey (Basic or Sign), ``parse`` turns request bodies
into unsaved models or a ``TpnsError``, ``views`` are thin handlers.
"""

from enum import IntEnum

from django.utils.translation import gettext_lazy

from lib.words import Words


class RetCode(IntEnum):
    """TPNS server error codes (reference §1.5) that this API answers with."""

    OK = 0
    PARSE_ERROR = 1008001  # the body is not JSON, or not an object
    MISSING = 1008002  # a required field is missing
    AUTH = 1008003  # authentication failed
    INTERNAL = 1008004  # internal error
    INVALID_TOKEN = 1008006  # a token that is not a device of the app (account APIs)
    INVALID = 1008007  # a field failed validation
    UPLOAD_FAILED = 1008011  # package upload: the file is not a package TPNS takes
    EMPTY_FILE = 1008012  # package upload: the file has no good line
    NO_SUCH_PUSH = 1008015  # statistics: push id does not exist
    BAD_DATE = 1008016  # statistics: date format
    PARTLY_FAILED = 1008026  # batch operation partly failed
    ALL_FAILED = 1008027  # batch operation totally failed
    TOO_FAST = 1008028  # all/tag pushes over 1 per second; an address locked out for guessing
    TOKEN_NOT_VALID = 1008029  # push to an unknown token without ignore_invalid_token
    NOT_FOUND = 10110008  # token / account does not exist (account query)


REQUIRED = gettext_lazy("required")


class TpnsError(Exception):
    """A request refused with a TPNS ``ret_code``; ``message`` names the field when there is one.

    TPNS answers refusals with HTTP 200 and the code in the body, authentication failures
    (1008003) and unsupported paths included, because that is the only way its own SDKs ever
    show the code. TPNS's Java server SDK (xingePush/xinge-api-java 1.2.x, okhttp) parses the
    body only when ``response.isSuccessful()``: on any non-2xx status ``pushApp`` returns
    ``null``; its earlier ``HttpURLConnection`` versions threw and reported ``ret_code`` 10101
    with the HTTP status in the text, which is the "10101 or 403 means AccessID and SecretKey
    do not match" of that SDK's FAQ. ret_code 1008003 is documented as a body field, so TPNS
    sends it with 200. Statuses other than 200: a wrong method (405), a body over the upload
    limit (413), an address locked out for failed authentication (429 with ``Retry-After``,
    ret_code 1008028) and our own crashes (500).
    """

    def __init__(
        self,
        code: RetCode,
        message: "str | Words",
        *,
        field: str = "",
        status: int = 200,
        headers: dict | None = None,
    ):
        # ``message`` is what the API answers (English, whatever the client asks, as TPNS);
        # ``words`` says the same in the reader's language (``for_people``, the console).
        # ``field`` is the path the message starts with ("sms_info.max_sms: ...").
        self.words = message if isinstance(message, Words) else Words(message)
        said = message if isinstance(message, str) else self.words.english()
        message = f"{field}: {said}" if field else said
        super().__init__(message)
        self.code, self.message, self.status, self.field = code, message, status, field
        self.headers = headers or {}
        self.seq = 0  # the request's seq, echoed by the push API's error answers
        # A token push refused for invalid tokens: those tokens, and how many valid ones are
        # left (what ignore_invalid_token: 1 would push to; the console offers that).
        self.invalid_targets: list[str] = []
        self.valid_targets = 0

    def for_people(self) -> str:
        """The message in the active language, starting with the same field path."""
        said = self.words.say()
        return f"{self.field}: {said}" if self.field else said


def words(message: "str | Words", **values) -> Words:
    """A refusal's words: ``message`` (a lazy translatable text) with its values."""
    return message if isinstance(message, Words) else Words(message, **values)


def invalid(field: str, message: "str | Words", /, **values) -> TpnsError:
    return TpnsError(RetCode.INVALID, words(message, **values), field=field)


def missing(field: str, message: "str | Words" = REQUIRED, /, **values) -> TpnsError:
    return TpnsError(RetCode.MISSING, words(message, **values), field=field)

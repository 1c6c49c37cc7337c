"""Firebase Cloud Messaging, HTTP v1 API: the push's ``message`` object, the service account an
owner uploads, and an asyncio client (google-auth for the OAuth2 token, httpx over HTTP/2 for
``messages:send``). Wire format: /work/shared/reference/channels.md section 2.

What a TPNS message becomes (``prepare``):

- notify on Android: ``notification {title, body, image}`` and ``android.notification``:
  ``channel_id`` (fcm_ch_id, else n_ch_id), ``sound`` (ring_raw, or "default" unless ring is 0;
  on Android 8+ the notification channel decides the sound, FCM's field only applies below),
  ``icon`` (small_icon), ``notification_count`` (badge_type ≥ 0; FCM cannot add one to the
  badge, so -2 is dropped like -1), priority HIGH.
- the click (``action``): FCM can only start an activity through an intent *action*
  (``click_action``, matched against the app's intent filters), never by class name, URL or
  intent URI. So ``click_action`` carries the activity (action_type 1; the app declares an
  intent filter with that name) or an intent that is a plain action name (type 3); a browser
  URL (type 2) goes to ``data["url"]`` and an intent URI (type 3) to ``data["intent"]``, for the
  pushconsole SDK to open when FCM starts the launcher activity with the data as extras.
- message (pass-through): data only, with ``title`` and ``content``; priority NORMAL.
- ``data``: custom_content's keys (non-string values JSON-encoded) and ``xg_msgid`` (the push
  id), which the app's FirebaseMessagingService reports arrival and clicks with.
- ``android.ttl``: the seconds left until the push expires ("0s" for expire_time 0, real time
  only); ``android.collapse_key``: options.collapse_id.
- an iOS app on FCM: only the ``apns`` block, exactly what the APNs channel sends
  (``apns.payload`` and its apns-* headers: the alert from title, content and message.ios,
  custom_content's keys and ``xg.msgid`` beside ``aps``); FCM relays it to Apple. No top-level
  ``notification`` or ``data``: FCM would copy them into the same payload, doubling its size.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from google.oauth2 import service_account as google_service_account

from push.models import Platform, Push

from . import apns
from .base import Answer, ChannelClient, Prepared, Result

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_MESSAGE_BYTES = 4096  # FCM: "the message payload is limited to 4096 bytes"
MAX_TTL = 28 * 24 * 3600  # FCM keeps a message at most four weeks
# Google's access tokens live an hour; one is replaced this long before it expires, so that a
# request never carries a token that expires on the way (at most half a short token's life).
REFRESH_MARGIN = 300.0
DEFAULT_TOKEN_LIFETIME = 3600.0  # when the token endpoint gives no expires_in
MAX_RETRY_AFTER = 86400.0  # a Retry-After beyond a day is taken as a day
# The token endpoints Google's key files name (today's, and older files'). Any other token_uri
# must be on the origin of PUSH_FCM_URL (a proxy or the loopback fake): the server posts to it,
# so an uploaded key file must not be able to point it at an arbitrary address.
GOOGLE_TOKEN_URIS = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v4/token",
    }
)
# Data keys FCM refuses ("from", "message_type", anything starting with "google" or "gcm").
RESERVED_DATA_KEYS = frozenset({"from", "message_type", "notification"})
RESERVED_DATA_PREFIXES = ("google", "gcm")
PUSH_ID_KEY = "xg_msgid"
# The longest push id (a bigint): what problem() sizes a push with before it has an id.
LONGEST_PUSH_ID = str(2**63 - 1)
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


# -- the message ----------------------------------------------------------------------------


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as FCM's ``message`` object, without its token (one per push, any device).
    ValueError for a message FCM cannot carry (``problem`` refuses those at acceptance; this
    catches a push accepted before the application had FCM credentials)."""
    prepared = _prepared(_message(push, now=now, push_id=push.push_id))
    if prepared.size > MAX_MESSAGE_BYTES:
        raise ValueError(_too_big(prepared.size))
    return prepared


def problem(push: Push) -> tuple[str, str] | None:
    """What FCM cannot carry: a message over 4096 bytes, or a data key FCM reserves."""
    now = push.send_at or push.created_at or datetime.now(UTC)
    push_id = push.push_id if push.pk is not None else LONGEST_PUSH_ID
    size = _prepared(_message(push, now=now, push_id=push_id)).size
    if size > MAX_MESSAGE_BYTES:
        return ("message", _too_big(size))
    if push.application.platform == Platform.ANDROID:
        for key in _custom_content(_part(push, "android")):
            if key.lower() in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_PREFIXES):
                return (
                    "message.android.custom_content",
                    f'FCM reserves the data key "{key}" (from, message_type, notification and '
                    "keys starting with google or gcm)",
                )
    return None


def _too_big(size: int) -> str:
    return f"the FCM message would be {size} bytes; FCM carries at most {MAX_MESSAGE_BYTES}"


def _prepared(message: dict) -> Prepared:
    return Prepared(body=message, options={}, size=len(_compact(message)))


def _compact(value: Any) -> bytes:
    """Compact UTF-8 JSON: what is sent is what is counted against the 4096 bytes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _part(push: Push, name: str) -> dict:
    part = (push.message or {}).get(name)
    return part if isinstance(part, dict) else {}


def _custom_content(part: dict) -> dict:
    """custom_content is a JSON object serialised to a string (checked when parsed)."""
    text = part.get("custom_content")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _data_value(value: Any) -> str:
    return value if isinstance(value, str) else _compact(value).decode()


def _seconds_left(push: Push, now: datetime) -> int:
    if push.expire_time == 0:
        return 0
    if push.expires_at is None:
        return min(push.expire_time, MAX_TTL)
    return min(max(0, math.ceil((push.expires_at - now).total_seconds())), MAX_TTL)


def _message(push: Push, *, now: datetime, push_id: str) -> dict:
    if push.application.platform == Platform.IOS:
        # Exactly what the APNs channel sends (the app's extension reads xg.msgid either way),
        # with its apns-* headers; FCM relays it to Apple.
        headers = apns.prepare(push, now=now).options
        return {"apns": {"headers": headers, "payload": apns.payload(push, push_id=push_id)}}
    notify = push.message_type == Push.MessageType.NOTIFY
    part = _part(push, "android")
    data = {str(key): _data_value(value) for key, value in _custom_content(part).items()}
    message: dict[str, Any] = {}
    android: dict[str, Any] = {
        "priority": "HIGH" if notify else "NORMAL",
        "ttl": f"{_seconds_left(push, now)}s",
    }
    collapse_id = (push.options or {}).get("collapse_id")
    if collapse_id is not None:
        android["collapse_key"] = str(collapse_id)
    if notify:
        message["notification"] = {"title": push.title, "body": push.content}
        if image := (push.message or {}).get("xg_media_resources"):
            message["notification"]["image"] = image
        if notification := _android_notification(part, data):
            android["notification"] = notification
        # TPNS's collapse_id replaces the notification on the device (the tag); the
        # collapse_key above, which also drops stored messages, only when one was given.
        if tag := (push.options or {}).get("collapse_id") or push.collapse_id:
            android.setdefault("notification", {})["tag"] = str(tag)
    else:
        data["title"] = push.title
        data["content"] = push.content
    data[PUSH_ID_KEY] = push_id  # last: a customer's key of that name never replaces ours
    message["data"] = data
    message["android"] = android
    return message


def _android_notification(android: dict, data: dict) -> dict:
    notification: dict[str, Any] = {}
    if channel := android.get("fcm_ch_id") or android.get("n_ch_id"):
        notification["channel_id"] = channel
    if android.get("ring", 1) != 0:
        notification["sound"] = android.get("ring_raw") or "default"
    if icon := android.get("small_icon"):
        notification["icon"] = icon
    badge = android.get("badge_type")
    if isinstance(badge, int) and badge >= 0:
        notification["notification_count"] = badge
    action = android.get("action")
    if isinstance(action, dict):
        action_type = action.get("action_type")
        if action_type == 1 and action.get("activity"):
            notification["click_action"] = action["activity"]
        elif action_type == 2:
            if url := (action.get("browser") or {}).get("url"):
                data["url"] = url
        elif action_type == 3 and (intent := action.get("intent")):
            if ":" in intent:  # an intent URI (scheme://…, intent:…): FCM cannot open it
                data["intent"] = intent
            else:
                notification["click_action"] = intent
    return notification


# -- credentials ----------------------------------------------------------------------------


def check_credentials(form: dict) -> tuple[dict, dict]:
    """A service-account key file (form ``service_account``, its JSON text) and the Firebase
    project (``project_id``, default: the key file's): (config, {field: error})."""
    errors: dict[str, str] = {}
    text = form.get("service_account") or ""
    if isinstance(text, dict):  # the management API may carry the key file as an object
        text = json.dumps(text)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return {}, {"service_account": "must be the key file's JSON text (UTF-8)"}
    if not text.strip():
        return {}, {
            "service_account": "required: the JSON key of a service account (Firebase console → "
            "Project settings → Service accounts → Generate new private key)"
        }
    try:
        info = json.loads(text)
    except ValueError as exc:
        return {}, {"service_account": f"is not JSON ({exc})"}
    if not isinstance(info, dict):
        return {}, {"service_account": "must be a JSON object (a service-account key file)"}
    if problem_text := _service_account_problem(info, settings.PUSH_FCM_URL):
        errors["service_account"] = problem_text
    project_id = str(form.get("project_id") or "").strip() or str(info.get("project_id") or "")
    if not project_id:
        errors["project_id"] = "required: the key file names no project"
    elif not _PROJECT_ID.match(project_id):
        errors["project_id"] = "must be a Firebase project ID (lowercase letters, digits and -)"
    if errors:
        return {}, errors
    return {"service_account": info, "project_id": project_id}, {}


def _service_account_problem(info: dict, fcm_url: str) -> str | None:
    if info.get("type") != "service_account":
        return f'must be a service-account key file (its "type" is {info.get("type")!r})'
    missing = [
        key
        for key in ("client_email", "private_key", "token_uri")
        if not isinstance(info.get(key), str) or not info[key]
    ]
    if missing:
        return f"the key file has no {', '.join(missing)}"
    try:
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        return "its private_key is not an unencrypted PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "its private_key is not an RSA key (Google signs service-account keys with RSA)"
    if problem_text := _token_uri_problem(info["token_uri"], fcm_url):
        return problem_text
    if info.get("universe_domain", "googleapis.com") != "googleapis.com":
        # google-auth would sign its own tokens there instead of asking token_uri.
        return "its universe_domain must be googleapis.com (where FCM runs)"
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _token_uri_problem(token_uri: str, fcm_url: str) -> str | None:
    if token_uri in GOOGLE_TOKEN_URIS:
        return None
    if _origin(token_uri) == _origin(fcm_url) and _origin(fcm_url)[0] == "https":
        return None
    return "its token_uri must be Google's (https://oauth2.googleapis.com/token)"


# -- answers --------------------------------------------------------------------------------


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(0.0, (moment - now).total_seconds()), MAX_RETRY_AFTER)


def classify(status: int, body: bytes, retry_after: str | None, *, now: datetime) -> Answer:
    """FCM's answer to one messages:send as an Answer (the sender never reads status codes)."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    if status == 200:
        name = payload.get("name", "") if isinstance(payload, dict) else ""
        return Answer(Result.ACCEPTED, message_id=str(name), status=status)
    error = payload.get("error") if isinstance(payload, dict) else None
    error = error if isinstance(error, dict) else {}
    code, fields = "", []
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == FCM_ERROR:
            code = str(detail.get("errorCode") or "")
        elif detail.get("@type") == BAD_REQUEST:
            fields += [v.get("field") for v in detail.get("fieldViolations") or () if v]
    text = str(error.get("message") or "")
    reason = code or str(error.get("status") or "") or f"HTTP {status}"
    wait = retry_after_seconds(retry_after, now=now)

    def refused(prune: bool = False) -> Answer:
        return Answer(Result.REFUSED, reason=reason, status=status, prune=prune)

    def retry() -> Answer:
        return Answer(Result.RETRY, reason=reason, status=status, retry_after=wait)

    if code == "UNREGISTERED":
        return refused(prune=True)
    if code == "INVALID_ARGUMENT" or (status == 400 and not code):
        # Only a refusal of the token itself kills it; a bad field of ours must not.
        return refused(prune="message.token" in fields or "registration token" in text.lower())
    if code == "SENDER_ID_MISMATCH":
        # The credentials' project is not the one the token belongs to: most often a key file
        # of the wrong project, which would make every token "mismatch". Not pruned: fixing
        # the credentials must not find every device's token thrown away.
        return refused()
    if code in ("THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR"):
        return refused()
    if code in ("QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL") or status == 429 or status >= 500:
        return retry()
    if status == 401:
        return retry()  # a fresh token was refused too (the caller refreshed once)
    if 400 <= status < 500:
        return refused()
    return retry()


# FCM's ErrorCode values (…/reference/fcm/rest/v1/ErrorCode), Google's statuses FCM answers
# without one, and our own words for no answer, in words for a person.
REASONS = {
    "UNSPECIFIED_ERROR": "FCM gave no more information about this error",
    "INVALID_ARGUMENT": "FCM found the message invalid (a field, its size, or a reserved data key)",
    "UNREGISTERED": "the app is no longer registered with this token (uninstalled, or the "
    "token expired after long inactivity)",
    "SENDER_ID_MISMATCH": "the token belongs to another Firebase project than the service "
    "account's: check that the key file and project ID are those of the app's project",
    "QUOTA_EXCEEDED": "the sending quota was exceeded (of the project, or of this device)",
    "UNAVAILABLE": "FCM was overloaded and could not take the message for now",
    "INTERNAL": "FCM had an internal error",
    "THIRD_PARTY_AUTH_ERROR": "FCM could not pass the message on to Apple (or a web push "
    "service): the APNs key or certificate in the Firebase console is missing or invalid",
    "APNS_AUTH_ERROR": "FCM could not pass the message on to Apple: the APNs key or "
    "certificate in the Firebase console is missing or invalid",
    "UNAUTHENTICATED": "FCM refused the access token, even a freshly issued one",
    "PERMISSION_DENIED": "the service account may not send for this project (a wrong project "
    "ID, or the account lacks the Firebase Cloud Messaging role)",
    "NOT_FOUND": "FCM does not know this project or address: check the project ID",
    # Google's token endpoint (OAuth 2.0 errors).
    "invalid_grant": "Google refused the service account's key: it was deleted or disabled, or "
    "this server's clock is wrong; upload a new key file",
    "invalid_scope": "Google would not grant the Firebase Cloud Messaging scope",
    "invalid_client": "Google does not know the service account; upload a new key file",
    "unauthorized_client": "Google does not let this service account obtain tokens",
    "token_unavailable": "no access token could be obtained from Google's token endpoint",
    "token_uri_refused": "the key file's token_uri is not Google's token endpoint (nor on "
    "PUSH_FCM_URL's host); upload the key file again",
    "bad_service_account": "google-auth cannot use the stored key file; upload it again",
    # Ours: no answer from FCM.
    "timeout": "FCM did not answer in time",
    "connection": "FCM could not be reached, or the connection was lost",
}
_BAD_REGISTRATION = "the registration token is not a valid FCM token"


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    if answer.result == Result.ACCEPTED:
        return f"Accepted by FCM ({answer.message_id})"
    reason = answer.reason or (f"HTTP {answer.status}" if answer.status else "no answer")
    words = REASONS.get(answer.reason)
    if answer.reason == "INVALID_ARGUMENT" and answer.prune:
        words = _BAD_REGISTRATION
    if words is None:
        words = f"FCM answered HTTP {answer.status}" if answer.status else "unknown"
    if answer.result == Result.REFUSED:
        text = f"Refused: {reason} — {words}"
        if answer.prune:
            text += "; the token is pruned"
        return text
    if answer.result == Result.LOST:
        return f"No answer: {reason} — {words}; it may have arrived, so it is not sent again"
    text = f"Not sent yet: {reason} — {words}; it will be tried again"
    if answer.retry_after is not None:
        text += f" (after {answer.retry_after:g} s, as FCM asked)"
    return text


# -- the client -----------------------------------------------------------------------------


def client(config: dict, *, environment: str, clock=None) -> FcmClient:
    """A client on ``ChannelCredentials.config()`` (FCM has no environments)."""
    return FcmClient(
        config["service_account"],
        project_id=config["project_id"],
        base_url=settings.PUSH_FCM_URL,
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
        clock=clock,
    )


@functools.cache
def _ssl_context(ca_file: str, use: str) -> ssl.SSLContext:
    """The system's CAs and ``ca_file``'s, loaded once per process and ``use`` (loading the
    system bundle takes a while, and each context holds a copy). One context per use: httpcore
    sets its ALPN protocols on the context it is given, and the token client (HTTP/1.1) must
    not change what the send clients (h2) offer."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


class _TokenRequest(google.auth.transport.Request):
    """google-auth's transport for the token request, on httpx: the same TLS trust, proxy
    settings and timeout as the sends."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = self.http.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(exc) from exc
        return _TokenResponse(response)


class _TokenResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response):
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self):
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _TokenTrouble(Exception):
    def __init__(self, answer: Answer):
        self.answer = answer


class FcmClient(ChannelClient):
    """Sends one prepared message to many tokens over one HTTP/2 connection (httpx
    multiplexes up to the server's stream limit). The access token is shared by every send
    and replaced shortly before it expires, by one refresh at a time, in a thread (google-auth
    signs and posts synchronously)."""

    def __init__(
        self,
        service_account: dict,
        *,
        project_id: str,
        base_url: str,
        ca_file: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
    ):
        base_url = base_url.rstrip("/")
        # Credentials checked at upload that no longer do (PUSH_FCM_URL changed since, say)
        # refuse every send in words rather than fail the sender's batch.
        self._unusable: Answer | None = None
        self._credentials = None
        if _token_uri_problem(service_account.get("token_uri", ""), base_url):
            self._unusable = Answer(Result.REFUSED, reason="token_uri_refused")
        else:
            try:
                self._credentials = google_service_account.Credentials.from_service_account_info(
                    service_account, scopes=[SCOPE]
                )
            except (ValueError, google.auth.exceptions.GoogleAuthError):
                self._unusable = Answer(Result.REFUSED, reason="bad_service_account")
        self._url = f"{base_url}/v1/projects/{urllib.parse.quote(project_id)}/messages:send"
        self._clock = clock or time.monotonic
        self._http = httpx.AsyncClient(
            http2=True, verify=_ssl_context(ca_file, "send"), timeout=timeout
        )
        self._token_request = _TokenRequest(
            httpx.Client(verify=_ssl_context(ca_file, "token"), timeout=timeout)
        )
        self._token = ""
        self._token_due = 0.0  # self._clock() value from which the token is replaced
        self._token_lock = asyncio.Lock()
        self._token_generation = 0  # bumped by every refresh, done or failed
        self._token_failure: _TokenTrouble | None = None

    async def send(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        if self._unusable is not None:
            return [self._unusable] * len(tokens)
        # The message is serialised once; each request only splices its token in front.
        inner = _compact(prepared.body)[1:-1]
        rest = b"," + inner + b"}}" if inner else b"}}"
        return list(
            await asyncio.gather(
                *(
                    self._send_one(b'{"message":{"token":' + _compact(token) + rest)
                    for token in tokens
                )
            )
        )

    async def _send_one(self, body: bytes) -> Answer:
        try:
            access_token = await self._access_token()
            response = await self._post(body, access_token)
            # A 401 is about our access token (expired or revoked early: replace it once and
            # resend), unless FCM names Apple's or a web push service's credentials.
            if response.status_code == 401 and b"THIRD_PARTY_AUTH_ERROR" not in response.content:
                access_token = await self._access_token(refused=access_token)
                response = await self._post(body, access_token)
            return classify(
                response.status_code,
                response.content,
                response.headers.get("retry-after"),
                now=datetime.now(UTC),
            )
        except _TokenTrouble as trouble:
            return trouble.answer
        # Not sent: no connection, no stream, or the request not written out whole.
        except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout):
            return Answer(Result.RETRY, reason="timeout")
        except (httpx.ConnectError, httpx.WriteError):
            return Answer(Result.RETRY, reason="connection")
        # Written, but no answer: FCM may have taken it (sending again could duplicate it).
        except httpx.TimeoutException:
            return Answer(Result.LOST, reason="timeout")
        except httpx.HTTPError:
            return Answer(Result.LOST, reason="connection")
        except Exception as exc:  # one token's trouble never stops the others
            return Answer(Result.LOST, reason=type(exc).__name__)

    async def _post(self, body: bytes, access_token: str) -> httpx.Response:
        return await self._http.post(
            self._url,
            content=body,
            headers={
                "authorization": f"Bearer {access_token}",
                "content-type": "application/json; charset=UTF-8",
            },
        )

    async def _access_token(self, refused: str = "") -> str:
        """The cached access token, or a new one when it is due or was ``refused``. Sends that
        wait while another refreshes take its result, token or failure."""
        if self._token and self._token != refused and self._clock() < self._token_due:
            return self._token
        generation = self._token_generation
        async with self._token_lock:
            if self._token_generation != generation:
                if self._token_failure is not None:
                    raise self._token_failure
                if self._token != refused and self._clock() < self._token_due:
                    return self._token
            try:
                token, lifetime = await asyncio.to_thread(self._refresh)
            except google.auth.exceptions.RefreshError as exc:
                raise self._failed(_refresh_answer(exc)) from None
            except Exception:  # the endpoint unreachable (TransportError), a bad answer
                raise self._failed(Answer(Result.RETRY, reason="token_unavailable")) from None
            self._token = token
            self._token_due = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 2)
            self._token_failure = None
            self._token_generation += 1
            return token

    def _failed(self, answer: Answer) -> _TokenTrouble:
        self._token, self._token_due = "", 0.0
        self._token_failure = _TokenTrouble(answer)
        self._token_generation += 1
        return self._token_failure

    def _refresh(self) -> tuple[str, float]:
        """A new access token and its lifetime in seconds (blocking: run in a thread)."""
        self._credentials.refresh(self._token_request)
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        if expiry is None:
            return self._credentials.token, DEFAULT_TOKEN_LIFETIME
        now = datetime.now(UTC).replace(tzinfo=None)
        return self._credentials.token, max(0.0, (expiry - now).total_seconds())

    async def aclose(self) -> None:
        await self._http.aclose()
        self._token_request.http.close()


def _refresh_answer(exc: google.auth.exceptions.RefreshError) -> Answer:
    """The token endpoint's refusal: an OAuth error (the key is bad) is REFUSED, a passing
    trouble (5xx, which google-auth already retried) is RETRY."""
    if getattr(exc, "retryable", False):
        return Answer(Result.RETRY, reason="token_unavailable")
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    error = data.get("error")
    if isinstance(error, str) and error:
        return Answer(Result.REFUSED, reason=error)
    return Answer(Result.RETRY, reason="token_unavailable")

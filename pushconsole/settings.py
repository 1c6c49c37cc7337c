"""Settings, read from the environment.

With nothing set the product runs for a developer: SQLite next to the code, DEBUG on, and the
local SMS transport that records messages instead of sending them. Production parts are switched
on by environment variables (see README.md). Any variable may instead be given as ``<NAME>_FILE``
naming a file that holds its value (for secrets). A bad value stops start-up with one line that
names the variable.
"""

import base64
import hashlib
import os
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration value that cannot be used; the message starts with the variable's name."""


# Variables that may hold secrets, and so may be given as <NAME>_FILE instead.
FILE_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS", "EMAIL_URL")


def _read_file_variables():
    """Honour NAME_FILE: the file's content becomes the value of NAME (unless NAME is set)."""
    for name in FILE_VARIABLES:
        path = os.environ.get(f"{name}_FILE")
        if path and name not in os.environ:
            try:
                os.environ[name] = Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
BOOLEANS.update({"0": False, "false": False, "no": False, "off": False, "": False})


def _get(env, name, cast, default):
    if cast == "bool":
        raw = os.environ.get(name)
        if raw is None:
            return default
        if raw.strip().lower() not in BOOLEANS:
            raise ConfigError(f"{name}: {raw!r} is not a boolean (use true or false)")
        return BOOLEANS[raw.strip().lower()]
    try:
        return getattr(env, cast)(name, default=default)
    except (ValueError, environ.ImproperlyConfigured) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _fernet_keys(raw):
    from cryptography.fernet import Fernet

    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise ConfigError("FIELD_ENCRYPTION_KEYS: give at least one Fernet key")
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"FIELD_ENCRYPTION_KEYS: key {i} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
    return keys


def _secret_key(env, debug):
    secret_key = env.str("SECRET_KEY", default="")
    if not secret_key:
        if not debug:
            raise ConfigError("SECRET_KEY: required when DEBUG is off")
        return "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
    if len(secret_key) < 32 and not debug:
        raise ConfigError("SECRET_KEY: use at least 32 random characters")
    return secret_key


def _database(env):
    default_db = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    database_url = env.str("DATABASE_URL", default=default_db)
    scheme = urlsplit(database_url).scheme
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        raise ConfigError(
            f"DATABASE_URL: unsupported scheme {scheme!r} (use postgres://... or sqlite:///...)"
        )
    try:
        db = environ.Env.db_url_config(database_url)
    except Exception as exc:  # django-environ raises several types for malformed URLs
        raise ConfigError(f"DATABASE_URL: cannot parse it ({exc})") from None
    if db["ENGINE"] == "django.db.backends.postgresql":
        # Long-lived web and django-q2 worker processes keep their connection for a while
        # instead of reconnecting for every request or task; health checks drop dead ones.
        db["CONN_MAX_AGE"] = _get(env, "DB_CONN_MAX_AGE", "int", 60)
        db["CONN_HEALTH_CHECKS"] = True
    else:
        # SQLite (development): writers queue up instead of failing with "database is locked"
        # when the web server, the task cluster and the demo simulator write at once.
        db.setdefault("OPTIONS", {}).update(
            {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
    return db


def _encryption_keys(env, debug, secret_key):
    raw_keys = env.str("FIELD_ENCRYPTION_KEYS", default="")
    if not raw_keys:
        if not debug:
            raise ConfigError("FIELD_ENCRYPTION_KEYS: required when DEBUG is off")
        digest = hashlib.sha256(f"pushconsole-field-encryption:{secret_key}".encode()).digest()
        raw_keys = base64.urlsafe_b64encode(digest).decode()
    return _fernet_keys(raw_keys)


def _tencent_endpoint(env):
    endpoint = env.str("TENCENTCLOUD_SMS_ENDPOINT", default="https://sms.tencentcloudapi.com")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(
            "TENCENTCLOUD_SMS_ENDPOINT: give a URL like https://sms.tencentcloudapi.com "
            "or http://127.0.0.1:PORT"
        )
    return endpoint


def _console_url(env, default):
    url = env.str("CONSOLE_URL", default=default).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("CONSOLE_URL: give the console's address, like https://push.example.com")
    return url


def _choice(env, name, default, choices):
    value = env.str(name, default=default)
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def _int(env, name, default, minimum=None, *, range_error=False):
    """An integer variable; below ``minimum`` it is "not a positive number", or with
    ``range_error`` "out of range"."""
    value = _get(env, name, "int", default)
    if minimum is not None and value < minimum:
        if range_error:
            raise ConfigError(f"{name}: {value} is out of range")
        raise ConfigError(f"{name}: {value} is not a positive number")
    return value


@contextmanager
def _reported():
    """A ConfigError while reading the settings stops start-up with one line naming it."""
    try:
        yield
    except ConfigError as exc:
        sys.stderr.write(f"pushconsole: configuration error: {exc}\n")
        raise SystemExit(2) from None


# Each setting read from the environment is written once, here, in the order it is checked.
with _reported():
    _read_file_variables()
    _env = environ.Env()
    DEBUG = _get(_env, "DEBUG", "bool", True)
    SECRET_KEY = _secret_key(_env, DEBUG)
    DATABASES = {"default": _database(_env)}

    REDIS_URL = _env.str("REDIS_URL", default="")
    if REDIS_URL and urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")

    ALLOWED_HOSTS = _get(
        _env, "ALLOWED_HOSTS", "list", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
    )
    if not DEBUG and not ALLOWED_HOSTS:
        raise ConfigError("ALLOWED_HOSTS: required when DEBUG is off (comma-separated host names)")
    CSRF_TRUSTED_ORIGINS = _get(_env, "CSRF_TRUSTED_ORIGINS", "list", [])
    for _origin in CSRF_TRUSTED_ORIGINS:
        if urlsplit(_origin).scheme not in ("http", "https"):
            raise ConfigError(f"CSRF_TRUSTED_ORIGINS: {_origin!r} must start with https://")

    FIELD_ENCRYPTION_KEYS = _encryption_keys(_env, DEBUG, SECRET_KEY)

    SMS_TRANSPORT = _choice(_env, "SMS_TRANSPORT", "local", ("local", "tencent"))
    TENCENTCLOUD_SMS_ENDPOINT = _tencent_endpoint(_env)
    TENCENTCLOUD_SMS_REGION = _env.str("TENCENTCLOUD_SMS_REGION", default="ap-guangzhou")
    TENCENTCLOUD_TIMEOUT = _get(_env, "TENCENTCLOUD_TIMEOUT", "int", 10)

    _email_url = _env.str("EMAIL_URL", default="")
    DEFAULT_FROM_EMAIL = _env.str("DEFAULT_FROM_EMAIL", default="pushconsole@localhost")
    _q_workers = _get(_env, "Q_WORKERS", "int", 2)
    _q_cluster_name = _env.str("Q_CLUSTER_NAME", default="pushconsole")
    BENCH_ENDPOINTS = _get(_env, "BENCH_ENDPOINTS", "bool", False)
    # Deliveries written per fan-out transaction: other pushes of the same app wait for at
    # most one chunk (deliveries of an app are committed in id order, see push.fanout).
    FANOUT_CHUNK = _int(_env, "FANOUT_CHUNK", 20000, 1)
    # The supplementary-SMS sweep: deliveries per claimed batch, and how long a claim holds
    # before another worker may take the batch over (its worker is presumed dead).
    FALLBACK_BATCH_SIZE = _get(_env, "FALLBACK_BATCH_SIZE", "int", 1000)
    FALLBACK_LEASE_SECONDS = _get(_env, "FALLBACK_LEASE_SECONDS", "int", 300)
    # How many task workers (across all clusters) sweep at once when a backlog is waiting.
    FALLBACK_WORKERS = _get(_env, "FALLBACK_WORKERS", "int", _q_workers)
    # Delivery channels (push.channels): where APNs and FCM are reached (overridable for a
    # proxy or a loopback fake), an extra CA bundle their clients trust beside the system's,
    # and the sender stage's batches, leases and per-request timeout.
    PUSH_APNS_PRODUCTION_URL = _env.str(
        "PUSH_APNS_PRODUCTION_URL", default="https://api.push.apple.com:443"
    )
    PUSH_APNS_SANDBOX_URL = _env.str(
        "PUSH_APNS_SANDBOX_URL", default="https://api.sandbox.push.apple.com:443"
    )
    PUSH_FCM_URL = _env.str("PUSH_FCM_URL", default="https://fcm.googleapis.com")
    # The phone makers' channels (push.channels.<vendor>); Xiaomi's host follows the
    # credentials' region unless PUSH_XIAOMI_URL overrides every region (a proxy, a fake).
    PUSH_HUAWEI_TOKEN_URL = _env.str(
        "PUSH_HUAWEI_TOKEN_URL", default="https://oauth-login.cloud.huawei.com/oauth2/v3/token"
    )
    PUSH_HUAWEI_URL = _env.str("PUSH_HUAWEI_URL", default="https://push-api.cloud.huawei.com")
    # Honor's own guide (2023-11) names these; third-party clients use iam.developer.honor.com
    # /auth/token and push-api.cloud.honor.com.
    PUSH_HONOR_TOKEN_URL = _env.str(
        "PUSH_HONOR_TOKEN_URL",
        default="https://iam.developer.hihonor.com/auth/realms/developer/protocol/openid-connect/token",
    )
    PUSH_HONOR_URL = _env.str("PUSH_HONOR_URL", default="https://push-api.cloud.hihonor.com")
    PUSH_XIAOMI_URL = _env.str("PUSH_XIAOMI_URL", default="")
    PUSH_OPPO_URL = _env.str("PUSH_OPPO_URL", default="https://api.push.oppomobile.com")
    PUSH_VIVO_URL = _env.str("PUSH_VIVO_URL", default="https://api-push.vivo.com.cn")
    PUSH_MEIZU_URL = _env.str("PUSH_MEIZU_URL", default="https://server-api-push.meizu.com")
    # This server's public address, as the vendors reach it: their receipts are posted to
    # <it>/callbacks/push/<channel>/<key>. Empty: no per-message receipt URL is sent (Xiaomi,
    # OPPO, vivo), and the console says so.
    PUSH_RECEIPT_BASE_URL = _env.str("PUSH_RECEIPT_BASE_URL", default="")
    # The console's address as people open it: links in e-mails sent without a request (the
    # SMS package warnings). Default: the public address above, else the local `make run`.
    CONSOLE_URL = _console_url(_env, PUSH_RECEIPT_BASE_URL or "http://127.0.0.1:8000")
    PUSH_CHANNEL_CA_FILE = _env.str("PUSH_CHANNEL_CA_FILE", default="")
    PUSH_CHANNEL_TIMEOUT = _int(_env, "PUSH_CHANNEL_TIMEOUT", 10, 1, range_error=True)
    PUSH_SEND_BATCH_SIZE = _int(_env, "PUSH_SEND_BATCH_SIZE", 1000, 1, range_error=True)
    PUSH_SEND_LEASE_SECONDS = _int(_env, "PUSH_SEND_LEASE_SECONDS", 120, 1, range_error=True)
    # The built-in channel's long polls (push.sdk.longpoll): how many may wait at once in the
    # long-poll server, and per application (one app's flood cannot take the others' places);
    # how many may wait in a web process when a poll reaches the WSGI app instead; the
    # long-poll server's address as /healthz checks it (empty: not checked).
    SDK_LONG_POLLS = _int(_env, "SDK_LONG_POLLS", 15000, 1, range_error=True)
    SDK_LONG_POLLS_PER_APP = _int(_env, "SDK_LONG_POLLS_PER_APP", 12000, 1, range_error=True)
    SDK_WEB_LONG_POLLS = _int(_env, "SDK_WEB_LONG_POLLS", 4, 0, range_error=True)
    SDK_POLL_URL = _env.str("SDK_POLL_URL", default="")
    # Written by the service user (collectstatic; uploaded proofs): outside the code in a
    # deployment (deploy/systemd: /var/lib/pushconsole), so the code can stay read-only.
    STATIC_ROOT = Path(_env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
    # Uploaded proofs (signature documents, identity credentials): private, staff only.
    MEDIA_ROOT = Path(_env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
    # Behind a TLS-terminating proxy that already redirects, SECURE_SSL_REDIRECT=false
    # (both apply only with DEBUG off, below).
    _secure_ssl_redirect = _get(_env, "SECURE_SSL_REDIRECT", "bool", True)
    _secure_hsts_seconds = _get(_env, "SECURE_HSTS_SECONDS", "int", 31536000)
    # Guessing: failed logins (django-axes) and failed API authentication (accounts.throttle).
    # The client address is REMOTE_ADDR unless TRUSTED_PROXY_COUNT proxies of ours stand in
    # front and append to X-Forwarded-For (lib.clientaddr).
    TRUSTED_PROXY_COUNT = _int(_env, "TRUSTED_PROXY_COUNT", 0, 0, range_error=True)
    AXES_FAILURE_LIMIT = _int(_env, "LOGIN_FAILURE_LIMIT", 10, 1, range_error=True)
    AXES_COOLOFF_TIME = timedelta(
        seconds=_int(_env, "LOGIN_LOCKOUT_SECONDS", 900, 1, range_error=True)
    )
    API_AUTH_FAILURE_LIMIT = _int(_env, "API_AUTH_FAILURE_LIMIT", 30, 1, range_error=True)
    API_AUTH_FAILURE_WINDOW = _int(_env, "API_AUTH_FAILURE_WINDOW", 600, 1, range_error=True)
    API_AUTH_LOCKOUT_SECONDS = _int(_env, "API_AUTH_LOCKOUT_SECONDS", 900, 1, range_error=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # intcomma: figures grouped as the language groups them
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "lib",
    "pushconsole",
    "accounts",
    "sms",
    "push",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (Accept-Language, or the cookie set on the login page) ...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "lib.errors.QueryTextMiddleware",  # NUL in a query parameter: 400, not a DB error
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ... unless the signed-in user chose one; and the account's time zone (pushconsole.middleware).
    "pushconsole.middleware.UserLanguageMiddleware",
    "pushconsole.middleware.AccountTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pushconsole.urls"
WSGI_APPLICATION = "pushconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.memberships",
                "sms.context_processors.quota_banner",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks a login's username and address before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# English unless the browser or the user's preference (accounts.Preference) asks for Chinese;
# the catalogue is locale/zh_Hans/LC_MESSAGES/django.po, compiled (.mo) in the repository.
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if _email_url:
    vars().update(environ.Env.email_url_config(_email_url))
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# django-q2. Known pitfalls handled: the ORM broker is the database itself unless Redis is
# configured; successful results are kept (save_limit 0 = no per-save trimming query) and
# trimmed by a daily scheduled clean-up instead; a task is retried after `retry` seconds only
# if it has not finished, so `retry` stays well above `timeout`; attempts are capped; missed
# schedule runs are not replayed in a burst after downtime (`catch_up` off): the minute sweep
# finds due work in the database anyway.
Q_CLUSTER = {
    "name": _q_cluster_name,
    "workers": _q_workers,
    "timeout": 240,
    "retry": 600,
    "max_attempts": 3,
    "save_limit": 0,
    "catch_up": False,
    "ack_failures": True,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
TASK_RESULT_RETENTION_DAYS = 7

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.SignatureAuthentication",
        "accounts.authentication.BasicKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [  # JSON by the project's rules for untrusted JSON
        "lib.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "lib.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "pushconsole management API",
    "DESCRIPTION": (
        "Management API of pushconsole, authenticated with an API key pair (SecretId and "
        "SecretKey): HTTP Basic `SecretId:SecretKey`, or the signed form with headers "
        "`SecretId`, `TimeStamp` (unix seconds, within 300 seconds of the server's clock) and "
        "`Sign` = Base64(lowercase hex(HMAC-SHA256(SecretKey, StringToSign))), where "
        'StringToSign = METHOD + "\\n" + PATH + "\\n" + QUERY + "\\n" + TimeStamp + '
        '"\\n" + SecretId + "\\n" + raw body: METHOD in upper case, PATH without the '
        "query, QUERY byte for byte as sent (no `?`, empty when none). Each signature is "
        "accepted once. After too many failed authentications from one address the API "
        "answers 429 with `Retry-After`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lib.api.document_errors",  # the error answers of every operation
    ],
}

# How far a signed request's TimeStamp may be from the server's clock (API key pairs).
API_SIGNATURE_MAX_SKEW = 300

# Guessing (README: Accounts, keys and authorization). Console and admin logins: django-axes,
# database handler (shared by every web worker), lockout by username and by address
# separately; a locked-out login is refused before its password is hashed, and each attempt
# during the lockout starts the cool-off again (AXES_FAILURE_LIMIT and AXES_COOLOFF_TIME are
# read above, from LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_SECONDS).
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "lib.clientaddr.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.login_locked_out"
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
# Management, TPNS and SDK APIs: failed authentications per client address and API
# (API_AUTH_FAILURE_LIMIT, _WINDOW and LOCKOUT_SECONDS, read above).

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _secure_ssl_redirect
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _secure_hsts_seconds
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # django-axes logs every login at INFO; its warnings (failures, lockouts) are what matter.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        # One line per request (per notification) at INFO: only their trouble is worth a line.
        "httpx": {"level": "WARNING"},
        "aioapns": {"level": "WARNING"},
    },
}

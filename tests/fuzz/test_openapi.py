"""Schemathesis over the OpenAPI schema (/api/v1/schema/): every operation of the management
API and of the SDK API, in-process against the WSGI application, with every check
schemathesis has (no server error, answers that match the schema in status, headers, content
type and body, authentication that is not ignored, ...).

The caller is a real API key pair (HTTP Basic) of Acme's owner (one account, so requests
that leave ``account`` out reach the endpoints' work; naming it is covered in
tests/test_hostile_input.py), and the SDK calls carry Acme's app AccessID/AccessKey.
Examples are bounded and derandomized, so CI runs the same cases in a bounded time; the
failed-authentication throttle is lifted, since schemathesis sends wrong credentials on
purpose and a throttled 429 is not what it checks.
"""

import base64

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts.models import ApiKeyPair

EXAMPLES = 25  # per operation: ~40 operations, a minute or two on PostgreSQL


# A schema-valid request may still be refused for what a schema cannot say: a template or
# SdkAppId that does not exist, an account the caller must name. That is a 400 naming the
# field, documented for every operation; anything else stays as schemathesis expects.
CONFIG = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
        }
    }
}


# The credentials exist only once the test's fixtures made them, but schemathesis applies
# auth while it builds cases (at collection): it is given fixed stand-ins, which the WSGI
# application below swaps for the real values of the running test. A spoilt or missing
# header (schemathesis's authentication checks) is no stand-in and goes through as it is.
STAND_INS = {
    "/api/": {"Authorization": "Basic c3RhbmQtaW46Zm9yLXRoZS1rZXk="},
    "/sdk/": {"X-Access-Id": "999999999999999999", "X-Access-Key": "STAND-IN-ACCESS-KEY"},
}
REAL: dict[str, str] = {}  # WSGI environ key -> stand-in -> real value, set per test


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _with_real_credentials(application):
    def app(environ, start_response):
        for key, (stand_in, real) in REAL.items():
            if environ.get(key) == stand_in:
                environ[key] = real
        return application(environ, start_response)

    return app


def _load_schema():
    """The schema as /api/v1/schema/ serves it, loaded at collection (no database needed),
    and the WSGI application the cases are sent to."""
    from drf_spectacular.generators import SchemaGenerator

    loaded = schemathesis.openapi.from_dict(
        SchemaGenerator().get_schema(request=None, public=True),
        config=schemathesis.config.SchemathesisConfig.from_dict(CONFIG),
    )
    loaded.app = _with_real_credentials(get_wsgi_application())
    return loaded


schema = _load_schema()


@schema.auth(refresh_interval=None)
class ApiCredentials:
    """Each case gets the headers of its API; schemathesis knows them as the credentials, so
    its authentication checks can leave them out or spoil them."""

    def get(self, case, context):
        return next(h for prefix, h in STAND_INS.items() if case.path.startswith(prefix))

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), **data}


@pytest.fixture
def same_connection():
    """Keep the test's database connection (and its transaction) across WSGI requests: the
    handler's request signals would close it, as Django's test client prevents too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(db, same_connection, personas, sms, app, settings):
    """The headers for each API: the owner's key pair, the app's AccessID and AccessKey."""
    settings.API_AUTH_FAILURE_LIMIT = 10**9
    key, secret = ApiKeyPair.objects.issue(personas.owner, name="fuzz")
    basic = base64.b64encode(f"{key.secret_id}:{secret}".encode()).decode()
    real = {
        "/api/": {"Authorization": f"Basic {basic}"},
        "/sdk/": {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key},
    }
    for prefix, headers in real.items():
        for name, value in headers.items():
            REAL[_environ_key(name)] = (STAND_INS[prefix][name], value)
    yield
    REAL.clear()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_operation_as_its_schema_says(case, credentials, tally):
    counts = tally[f"schemathesis {case.operation.label}"]
    counts["cases"] += 1
    response = case.call()
    if response.status_code >= 500:
        counts["5xx"] += 1
    elif response.status_code < 300:
        counts["2xx"] += 1
    case.validate_response(response)

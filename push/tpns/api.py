"""The frame of every TPNS endpoint (``tpns_api``): POST only, CSRF-exempt, the app
authenticated by AccessID and SecretKey, and an answer in TPNS's JSON shape always, also for a
wrong method, a body too large or a crash of ours. The endpoints live in ``views`` (push,
accounts, push statistics) and in a module per API family (``tags``, ``control``,
``statistics``, ``packages``)."""

import functools
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import RetCode, TpnsError
from . import quota as quotas
from .auth import TpnsAuthentication
from .auth import now as clock_now

log = logging.getLogger("push.tpns.views")

NO_ERROR = "NO_ERROR"


def _error_body(exc: TpnsError, camel: bool) -> dict:
    if camel:
        return {"retCode": exc.code.value, "errMsg": exc.message}
    return {"seq": exc.seq, "ret_code": exc.code.value, "err_msg": exc.message}


def tpns_api(*, camel: bool = False, authenticate: bool = True, quota: str = ""):
    """Wrap a handler ``(request, app) -> dict`` into a TPNS endpoint. ``camel``: the endpoint
    answers ``retCode``/``errMsg`` (account query, statistics) rather than ``ret_code``/``err_msg``.
    ``quota``: the call counts against the app's hourly quota of that family (``quota.LIMITS``),
    after authentication and before the handler runs; an over-quota call is 1008028.
    """

    def decorate(handler):
        @csrf_exempt
        @functools.wraps(handler)
        def view(request, *args, **kwargs):
            try:
                if request.method != "POST":
                    raise TpnsError(RetCode.PARSE_ERROR, "only POST is supported", status=405)
                app = TpnsAuthentication.authenticate(request) if authenticate else None
                if quota:
                    quotas.charge(app, quota, clock_now())
                return JsonResponse(
                    handler(request, app, *args, **kwargs),
                    json_dumps_params={"ensure_ascii": False},
                )
            except TpnsError as exc:
                return JsonResponse(
                    _error_body(exc, camel),
                    status=exc.status,
                    headers=exc.headers,
                    json_dumps_params={"ensure_ascii": False},
                )
            except RequestDataTooBig:
                exc = TpnsError(RetCode.PARSE_ERROR, "the request body is too large", status=413)
                return JsonResponse(_error_body(exc, camel), status=exc.status)
            except Exception:
                log.exception("TPNS API %s failed", request.path)
                exc = TpnsError(RetCode.INTERNAL, "internal error", status=500)
                return JsonResponse(_error_body(exc, camel), status=exc.status)

        return view

    return decorate

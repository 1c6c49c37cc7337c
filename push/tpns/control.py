"""POST /v3/push/cancel_timing_task, /v3/push/stop_push_msg, /v3/push/revoke_push_msg
(TPNS 操作指南 消息回撤, which documents the request ``{"pushId": "<id>"}`` and no answer).

They answer like the rest of the ``/v3/push/`` family and like XG's v2 ``cancel_timing_task``:
``{"ret_code": 0, "err_msg": "NO_ERROR"}``, plus ours: ``pushId`` and the push's ``status``
after the call. The published examples spell the key ``pushid``; both spellings are read.
A push of another application is 1008015 "does not exist", like an unknown id; a push whose
state does not allow the call is 1008007 naming ``pushId`` (TPNS documents no code for it).
Repeating a call that already took effect answers 0 again and changes nothing.
"""

from django.http import HttpRequest

from push import control
from push.models import Application

from . import RetCode, TpnsError, invalid, parse
from .api import NO_ERROR, tpns_api
from .auth import now as clock_now


def _push_id(data: dict) -> int:
    if data.get("pushId") is None and "pushid" in data:  # the docs' request examples
        data = {"pushId": data["pushid"]}
    return parse.push_id(data)


def _control(request: HttpRequest, app: Application, action) -> dict:
    push_id = _push_id(parse.load(request.body))
    try:
        done = action(app, push_id, clock_now())
    except control.NoSuchPush:
        raise TpnsError(RetCode.NO_SUCH_PUSH, f"pushId: push {push_id} does not exist") from None
    except control.Refused as exc:
        raise invalid("pushId", str(exc)) from None
    return {
        "ret_code": RetCode.OK.value,
        "err_msg": NO_ERROR,
        "pushId": done.push.push_id,
        "status": done.push.status,
    }


@tpns_api()
def cancel_timing_task(request, app: Application) -> dict:
    return _control(request, app, control.cancel_timing_task)


@tpns_api()
def stop_push_msg(request, app: Application) -> dict:
    return _control(request, app, control.stop)


@tpns_api()
def revoke_push_msg(request, app: Application) -> dict:
    return _control(request, app, control.revoke)

"""POST /v3/push/plan/add_plan_push: create a push plan (TPNS's "创建推送计划接口").

Request ``{"planName" (≤ 60), "planDescribe" (≤ 300)}``; answer ``{"retCode": 0, "errMsg":
"save success", "result": {"planId", "planName", "planDescribe", "planPushSource": "api",
"createdAt", "updateAt"}}`` (Unix seconds), as the doc's example, which spells its message key
``ErrMsg``: we answer ``errMsg`` like every other camel-case TPNS answer, the key TPNS's own
table names. 200 calls a day per application (1008028 beyond). A push names its plan with
``plan_id`` (``get_push_group_stat`` groups by it); a plan_id that names no plan is still
taken, as TPNS's default ``tpns_yyyymmdd`` plans are never created.

Where the doc is silent we decided: both fields are required and must be non-blank strings
(the table says 是), lengths count characters (the table's 60 "English" and 300 "Chinese or
English" characters), and two plans may share a name (TPNS gives each its own id).
"""

from push.models import Application, PushPlan

from . import quota as quotas
from .api import tpns_api
from .auth import now as clock_now
from .parse.fields import Fields, load

NAME_MAX, DESCRIPTION_MAX = 60, 300


@tpns_api(camel=True, quota=quotas.PLANS)
def add_plan_push(request, app: Application) -> dict:
    f = Fields(load(request.body))
    name = f.string("planName", required=True, max_length=NAME_MAX)
    description = f.string("planDescribe", required=True, max_length=DESCRIPTION_MAX)
    now = clock_now()
    plan = PushPlan.objects.create(
        application=app, name=name, description=description, created_at=now, updated_at=now
    )
    return {"retCode": 0, "errMsg": "save success", "result": _record(plan)}


def _record(plan: PushPlan) -> dict:
    return {
        "planId": str(plan.pk),
        "planName": plan.name,
        "planDescribe": plan.description,
        "planPushSource": plan.source,
        "createdAt": int(plan.created_at.timestamp()),
        "updateAt": int(plan.updated_at.timestamp()),
    }

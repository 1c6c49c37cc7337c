"""The TPNS-compatible endpoints. Plain Django views: POST only, CSRF-exempt (the caller is
authenticated by AccessID and SecretKey, never by a session), JSON in TPNS's shape always, also
for a wrong method, an unknown path or a crash of ours.

Each handler authenticates the app, lets ``parse`` validate the body, and calls one piece of
behaviour; every query is scoped to the authenticated app, so an app can never push to, read or
bind another app's devices or pushes.
"""

import hashlib
import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from push import stats
from push.models import PHONE_ACCOUNT_TYPE, Application, Device, DeviceAccount, Push
from sms.numbers import InvalidNumber, normalize

from . import RetCode, TpnsError, parse
from . import quota as quotas
from .api import NO_ERROR, tpns_api
from .auth import now as clock_now
from .submit import loop_pushes, submit

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# POST /v3/push/app


@tpns_api()
def push_app(request, app: Application) -> dict:
    data = parse.load(request.body)
    try:
        return _push(request, app, data, clock_now())
    except TpnsError as exc:
        exc.seq = parse.seq_of(data)
        raise


def _push(request, app: Application, data: dict, now: datetime) -> dict:
    key = parse.idempotency_key(request)
    request_hash = hashlib.sha256(request.body).hexdigest() if key else ""
    return _accepted(submit(app, data, now=now, idempotency_key=key, request_hash=request_hash))


def _accepted(push: Push) -> dict:
    # A loop push answers the array of its pushes' ids (TPNS: "循环推送…返回多个 pushid").
    ids = [p.push_id for p in loop_pushes(push)] if push.loop_id else push.push_id
    answer = {
        "seq": push.seq,
        "push_id": ids,
        "ret_code": RetCode.OK.value,
        "err_msg": NO_ERROR,
        # TPNS's push API answers an Android push (which has no environment) with "product",
        # as its own example of an Android account push shows; iOS echoes the one asked for.
        "environment": push.environment or "product",
        "result": "[0]",
    }
    if push.audience_type in Push.Audience.TOKENS and push.options.get("ignore_invalid_token") == 1:
        answer["invalid_targe_list"] = push.invalid_targets  # sic: TPNS's spelling
    return answer


# --------------------------------------------------------------------------------------------
# POST /v3/device/account/batchoperate and /v3/device/account/query


def _devices(app: Application, tokens) -> dict[str, int]:
    """token → device id, for the tokens that are devices of this app (and no other)."""
    return dict(
        Device.objects.filter(application=app, token__any=list(tokens)).values_list("token", "id")
    )


def _bind(app: Application, pairs, now: datetime) -> list[str]:
    """Operator types 1 and 2: each token's accounts overwrite its accounts of the same types
    (one account per type per device: a later one in the list overwrites an earlier one).
    Accounts of other types stay bound, so binding a user id keeps the phone number the SDK
    bound. Phone numbers (type 1002) are stored in E.164; a token with an invalid one changes
    nothing and gets 1008007."""
    devices = _devices(app, (token for token, _ in pairs))
    results, rows = [], {}
    for token, bindings in pairs:
        device_id = devices.get(token)
        if device_id is None:
            results.append(str(RetCode.INVALID_TOKEN.value))
            continue
        chosen = {}
        try:
            for b in bindings:
                phone = b.account_type == PHONE_ACCOUNT_TYPE
                chosen[b.account_type] = normalize(b.account) if phone else b.account
        except InvalidNumber:
            results.append(str(RetCode.INVALID.value))
            continue
        for account_type, account in chosen.items():
            rows[device_id, account_type] = account
        results.append("0")
    DeviceAccount.objects.bind(app.pk, rows, now)
    return results


def _unbind(app: Application, pairs) -> list[str]:
    """Operator type 3: each token unbinds the accounts listed for it."""
    devices = _devices(app, (token for token, _ in pairs))
    results, listed = [], Q(pk__in=[])
    for token, bindings in pairs:
        device_id = devices.get(token)
        if device_id is None:
            results.append(str(RetCode.INVALID_TOKEN.value))
            continue
        listed |= Q(device_id=device_id) & parse.bindings_filter(bindings)
        results.append("0")
    DeviceAccount.objects.filter(application=app).filter(listed).delete()  # one DELETE
    return results


def _unbind_tokens(app: Application, tokens) -> list[str]:
    """Operator type 4: each token unbinds all its accounts."""
    devices = _devices(app, tokens)
    DeviceAccount.objects.filter(application=app, device_id__in=devices.values()).delete()
    return ["0" if t in devices else str(RetCode.INVALID_TOKEN.value) for t in tokens]


def _unbind_accounts(app: Application, bindings) -> list[str]:
    """Operator type 5: each account is unbound from all the app's tokens."""
    DeviceAccount.objects.filter(application=app).filter(parse.bindings_filter(bindings)).delete()
    return ["0"] * len(bindings)


@tpns_api()
def account_batchoperate(request, app: Application) -> dict:
    op = parse.parse_batchoperate(parse.load(request.body))
    with transaction.atomic():
        if op.operator_type in (1, 2):  # 1 (append) has behaved as 2 since 2020-10-26
            results = _bind(app, op.token_accounts, clock_now())
        elif op.operator_type == 3:
            results = _unbind(app, op.token_accounts)
        elif op.operator_type == 4:
            results = _unbind_tokens(app, op.tokens)
        else:
            results = _unbind_accounts(app, op.accounts)
    failed = sum(r != "0" for r in results)
    if not failed:
        code, message = RetCode.OK, NO_ERROR
    elif failed == len(results):
        code, message = RetCode.ALL_FAILED, "the operation failed for every item; see result"
    else:
        code, message = RetCode.PARTLY_FAILED, "the operation failed for some items; see result"
    return {"ret_code": code.value, "err_msg": message, "result": results}


MAX_TOKENS_PER_ACCOUNT = 100  # TPNS: an account is bound to at most 100 tokens


@tpns_api(camel=True)
def account_query(request, app: Application) -> dict:
    query = parse.parse_account_query(parse.load(request.body))
    answer = {"retCode": RetCode.OK.value, "errMsg": NO_ERROR}
    missing = str(RetCode.NOT_FOUND.value)
    if query.operator_type == 1:
        wanted = parse.bindings_filter(query.accounts)
        found: dict[tuple[int, str], list[str]] = {}
        rows = (
            DeviceAccount.objects.filter(application=app)
            .filter(wanted)
            .order_by("-created_at", "-id")  # the latest bound device first
            .values_list("account_type", "account", "device__token")
        )
        for account_type, account, token in rows:
            found.setdefault((account_type, account), []).append(token)
        answer["result"], answer["account_tokens"] = [], []
        for b in query.accounts:
            key = (b.account_type, parse.stored_account(b))
            tokens = found.get(key, [])[:MAX_TOKENS_PER_ACCOUNT]
            answer["result"].append("0" if tokens else missing)
            answer["account_tokens"].append(
                {"account": b.account, "account_type": b.account_type, "token_list": tokens}
            )
        return answer
    devices = _devices(app, query.tokens)
    bound: dict[int, list[dict]] = {}
    rows = (
        DeviceAccount.objects.filter(application=app, device_id__in=devices.values())
        .order_by("account_type", "id")
        .values_list("device_id", "account", "account_type")
    )
    for device_id, account, account_type in rows:
        bound.setdefault(device_id, []).append({"account": account, "account_type": account_type})
    answer["result"] = ["0" if t in devices else missing for t in query.tokens]
    answer["token_accounts"] = [
        {"token": t, "account_list": bound.get(devices.get(t), [])} for t in query.tokens
    ]
    return answer


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_push_record and /v3/statistics/get_push_task_stat_channel


def push_of(app: Application, data: dict) -> Push:
    push_id = parse.push_id(data)
    push = Push.objects.filter(application=app, pk=push_id).first()
    if push is None:
        raise TpnsError(RetCode.NO_SUCH_PUSH, f"pushId: push {push_id} does not exist")
    return push


# Our audience types as TPNS's records name them (pushType).
RECORD_PUSH_TYPES = {
    Push.Audience.ALL: "all",
    Push.Audience.TAG: "tag",
    **dict.fromkeys(Push.Audience.TOKENS, "token_list"),
    **dict.fromkeys(Push.Audience.ACCOUNTS, "account_list"),
    # The doc names package_account_push; a token package's push is named alike.
    Push.Audience.PACKAGE_ACCOUNT: "package_account_push",
    Push.Audience.PACKAGE_TOKEN: "package_token_push",
}


def _push_stat(figures: dict) -> dict:
    return {k: figures[k] for k in stats.FUNNEL_KEYS}


def sms_figures(sms: dict) -> dict:
    """The supplementary-SMS figures TPNS never had (push.stats.summary), camel-cased."""
    if not sms["enabled"]:
        return {"enabled": False}
    return {
        "enabled": True,
        "triggerCondition": sms["trigger_condition"],
        "delayTriggerTime": sms["delay_trigger_time"],
        "maxSms": sms["max_sms"],
        "due": sms["due"],
        "waiting": sms["waiting"] + sms["claimed"],
        "decided": sms["decided"],
        "outcomes": {o: sms[f"outcome_{o}"] for o in stats.OUTCOMES},
        "sent": sms["sms_sent"],
        "delivered": sms["sms_delivered"],
        "failed": sms["sms_failed"],
        "unknown": sms["sms_unknown"],
        "blocked": sms["outcome_blocked"],
        "blockedByReason": sms["blocked_by_reason"],
        "fee": sms["fee"],
    }


def _record_of(push: Push, summary: dict | None = None) -> dict:
    """One pushRecordData entry: TPNS's fields, plus pushStat and smsStat (ours)."""
    options, audience = push.options or {}, push.audience or {}
    summary = summary or stats.summary(push)
    return {
        "date": parse.beijing_time(push.send_at or push.created_at),
        "pushId": push.push_id,
        "createTime": int(push.created_at.timestamp()),
        "title": push.title,
        "content": push.content,
        "status": push.status,
        "pushType": RECORD_PUSH_TYPES.get(push.audience_type, push.audience_type),
        "messageType": push.message_type,
        "environment": push.environment,
        "expireTime": push.expire_time,
        "xgMediaResources": (push.message or {}).get("xg_media_resources", ""),
        "xgMediaAudioResources": (push.message or {}).get("xg_media_audio_resources", ""),
        "multiPkg": bool(options.get("multi_pkg", False)),
        "targetList": audience.get("token_list") or audience.get("account_list") or [],
        "collapseID": push.collapse_id,
        "tagSet": {k: audience[k] for k in ("tag_rules", "tag_list") if k in audience},
        "uploadId": push.package_id or 0,
        "source": "web" if push.created_by_id else "api",
        "pushConfig": {
            **options,
            "account_type": push.account_type,
            "account_push_type": push.account_push_type,
            "resend_by_sms": push.resend_by_sms,
            **({"sms_info": push.tpns_sms_info()} if push.resend_by_sms else {}),
        },
        "pushStat": _push_stat(summary),
        "smsStat": sms_figures(summary["sms"]),
    }


@tpns_api(camel=True, quota=quotas.STATISTICS)
def get_push_record(request, app: Application) -> dict:
    data = parse.load(request.body)
    answer = {"retCode": RetCode.OK.value, "errMsg": NO_ERROR}
    if data.get("pushId") is not None:
        return {**answer, "pushRecordData": [_record_of(push_of(app, data))]}
    query = parse.parse_record_query(data)
    pushes = Push.objects.filter(
        application=app, created_at__gte=query.start, created_at__lt=query.end
    )
    if query.message_type:
        pushes = pushes.filter(message_type=query.message_type)
    if query.audience_types:
        pushes = pushes.filter(audience_type__in=query.audience_types)
    page = list(pushes.order_by("-created_at", "-id")[query.offset : query.offset + query.limit])
    figures = stats.summaries(page)  # a few queries for the whole page, as stats.summary
    records = [_record_of(p, figures[p.pk]) for p in page]
    return {**answer, "count": pushes.count(), "pushRecordData": records}


def base_push_state(figures: dict) -> dict:
    """A channel's pushState. Every channel answers the Android keys and the iOS ones (a
    subset): pushActiveUv every target, pushOnlineUv what the channel accepted (APNs and FCM:
    their acceptance; ours: in the inbox), arrivalUv and verifySvcUv the arrivals the SDK
    reported (TPNS's iOS arrival is verifySvcUv), clickUv, cleanupUv the dismissals."""
    return {
        "pushActiveUv": figures["targets"],
        "pushOnlineUv": figures["accepted"],
        "arrivalUv": figures["arrived"],
        "verifySvcUv": figures["arrived"],
        "clickUv": figures["clicked"],
        "cleanupUv": figures["dismissed"],
    }


# --------------------------------------------------------------------------------------------
# Anything else under /v3/


@tpns_api(authenticate=False)
def unsupported(request, app, path: str = "") -> dict:
    # HTTP 200 like every TPNS refusal: the paths that reach here are mostly TPNS APIs this
    # server does not offer (tags, plans, uploads), which TPNS answers with 200.
    raise TpnsError(RetCode.INVALID, f"/v3/{path}: this TPNS API is not supported by this server")

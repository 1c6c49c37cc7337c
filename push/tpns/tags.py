"""POST /v3/device/tag (operator types 1–10) and /v3/device/tag/delete_all_device: TPNS's tag
API over ``push.tags``, the tags the SDK's registration, the console and tag pushes share.

The answer is TPNS's documented ``{"seq", "ret_code", "err_msg", "result"}``. ``result`` is a
string, as documented (and as TPNS's Java SDK types it): a JSON array with one code per item
(each token of the used ``token_list``, or each pair of ``tag_token_list``), "0" for done,
"1008029" for a token that cannot be one (empty or longer than 36 characters), "1008006" for
a token that is no device of this app (another app's included), "1008007" for a device that
would carry more than 100 tags. The items that can be done are done; ``ret_code`` is 0 if all
were, the items' code if all failed alike (so a call about one unknown token answers
1008006), else 1008026 (some failed) or 1008027 (all failed, differently). A body that fails
validation, or tags that would give the app more than 10,000, write nothing.
"""

import json

from push import tags
from push.models import TOKEN_MAX_LENGTH, Application, Device

from . import RetCode, TpnsError, invalid
from .api import NO_ERROR, tpns_api
from .parse import load, seq_of
from .parse.fields import listed
from .parse.tags import ADD, CLEAR, OVERWRITE, parse_delete_all_device, parse_tag_operation

WHY = {
    RetCode.TOKEN_NOT_VALID: "not a token (1 to 36 characters)",
    RetCode.INVALID_TOKEN: "not a device of this app",
    RetCode.INVALID: f"the device would carry more than {tags.MAX_TAGS_PER_DEVICE} tags",
}


def _devices(app: Application, tokens) -> dict[str, int]:
    """token → device id, for the tokens that are devices of this app (and no other)."""
    wanted = [t for t in dict.fromkeys(tokens) if 0 < len(t) <= TOKEN_MAX_LENGTH]
    if not wanted:
        return {}
    return dict(
        Device.objects.filter(application=app, token__any=wanted).values_list("token", "id")
    )


def _items(op) -> list[tuple[str, list[str]]]:
    """(token, tags) per item of the call."""
    if op.pairs:
        return [(token, [tag]) for tag, token in op.pairs]
    return [(token, op.tags) for token in op.tokens]


def _code(token: str, devices: dict[str, int]) -> RetCode:
    if not 0 < len(token) <= TOKEN_MAX_LENGTH:
        return RetCode.TOKEN_NOT_VALID
    return RetCode.OK if token in devices else RetCode.INVALID_TOKEN


def _apply(app: Application, op) -> list[tuple[str, RetCode]]:
    """Do what the items that name a device of the app ask; each item's token and code."""
    items = _items(op)
    devices = _devices(app, (token for token, _ in items))
    codes = [_code(token, devices) for token, _ in items]
    done = [item for item, code in zip(items, codes, strict=True) if code == RetCode.OK]
    pairs = [(devices[token], t) for token, item_tags in done for t in item_tags]
    known = list(dict.fromkeys(devices[token] for token, _ in done))
    refused: set[int] = set()
    try:
        if op.operator_type in ADD:
            refused = tags.add(app.pk, pairs)
        elif op.operator_type == OVERWRITE:
            if known and not tags.overwrite(app.pk, known[0], op.tags):
                refused = {known[0]}
        elif op.operator_type == CLEAR:
            tags.clear(app.pk, known)
        else:
            tags.remove(app.pk, pairs)
    except tags.AppTagLimit as exc:
        raise invalid(op.tags_field, str(exc)) from None
    return [
        (token, RetCode.INVALID if code == RetCode.OK and devices[token] in refused else code)
        for (token, _), code in zip(items, codes, strict=True)
    ]


def _answer(seq: int, field: str, outcomes: list[tuple[str, RetCode]]) -> dict:
    failed = [(token, code) for token, code in outcomes if code != RetCode.OK]
    distinct = {code for _, code in failed}
    if not failed:
        code, message = RetCode.OK, NO_ERROR
    else:
        if len(failed) < len(outcomes):
            code = RetCode.PARTLY_FAILED
        elif len(distinct) == 1:
            code = failed[0][1]
        else:
            code = RetCode.ALL_FAILED
        reasons = [
            f"{WHY[why]}: {listed([t for t, c in failed if c == why])}"
            for why in WHY
            if why in distinct
        ]
        message = f"{field}: {'; '.join(reasons)}"
    result = json.dumps([str(c.value) for _, c in outcomes])
    return {"seq": seq, "ret_code": code.value, "err_msg": message, "result": result}


@tpns_api()
def device_tag(request, app: Application) -> dict:
    data = load(request.body)
    try:
        op = parse_tag_operation(data)
        outcomes = _apply(app, op)
    except TpnsError as exc:
        exc.seq = seq_of(data)
        raise
    return _answer(seq_of(data), op.items_field, outcomes)


@tpns_api()
def delete_all_device(request, app: Application) -> dict:
    data = load(request.body)
    try:
        tag_list = parse_delete_all_device(data)
    except TpnsError as exc:
        exc.seq = seq_of(data)
        raise
    tags.remove_everywhere(app.pk, tag_list)
    # The documented answer: an empty err_msg and result on success.
    return {"ret_code": RetCode.OK.value, "err_msg": "", "seq": seq_of(data), "result": ""}

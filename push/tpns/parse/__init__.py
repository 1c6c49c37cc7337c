"""Validation of TPNS request bodies: JSON in; an unsaved Push (or plain values) or a TpnsError out.

Every error names the field by its path (``sms_info.delay_trigger_time: must be at least 300``)
and carries TPNS's ``ret_code``: 1008001 for a body that is not a JSON object, 1008002 for a
missing required field, 1008007 for any other violation. Nothing here writes to the database.

Where TPNS's documentation (reference §1.3) is silent we decided, and say so here:

- JSON ``null`` counts as absent: SDKs serialise unset fields as null or leave them out.
- Fields that do not apply to the audience are ignored, not refused: the official Java SDK
  sends ``token_list: []`` and ``account_list: []`` with every push, and ``environment`` with
  Android pushes. Unknown top-level fields (legacy ``platform``, ``stat_tag``, ``loop_times``,
  ...) are ignored too; documented ones are type-checked and kept in ``Push.options``.
- ``send_time`` is Beijing time (UTC+8), as everywhere in TPNS; an empty string means "now".
- A token longer than 36 characters cannot be a device's, so it is an invalid token (1008029,
  or skipped with ``ignore_invalid_token: 1``), not a malformed request.
- With ``ignore_invalid_token: 1`` and no valid token left, the call fails with 1008029 as
  without it: there is nobody to push to.
- An iOS silent message (``message_type: "message"``) needs no title or content, as in TPNS's
  own example; every other message needs both.
- ``loop_param`` (and the legacy ``loop_times``/``loop_interval``) makes one scheduled push per
  occurrence (``push.loops``); ``loop_times: 0``, which TPNS's Java SDK sends with every push,
  is no loop.
- Accounts of type 1002 (phone numbers) are normalised to E.164 before matching, as the
  bindings are stored.

The modules, one per part of the protocol: ``fields`` (typed access to a JSON object, the body,
``seq``, Idempotency-Key, Beijing time), ``push_app`` (the /v3/push/app body, using ``message``,
``options``, ``audience`` and ``sms_info``), ``accounts`` (account binding and query bodies) and
``statistics`` (push ids and record queries). The names callers use are re-exported here.
"""

from .accounts import (
    AccountQuery,
    BatchOperation,
    Binding,
    binding_filter,
    bindings_filter,
    normalize_or_keep,
    parse_account_query,
    parse_batchoperate,
    stored_account,
)
from .fields import BEIJING, Fields, beijing_time, check_int, idempotency_key, load, seq_of
from .push_app import parse_push
from .sms_info import SMS_DELAY_MIN
from .statistics import RecordQuery, parse_record_query, push_id

__all__ = [
    "BEIJING",
    "SMS_DELAY_MIN",
    "AccountQuery",
    "BatchOperation",
    "Binding",
    "Fields",
    "RecordQuery",
    "beijing_time",
    "binding_filter",
    "bindings_filter",
    "check_int",
    "idempotency_key",
    "load",
    "normalize_or_keep",
    "parse_account_query",
    "parse_batchoperate",
    "parse_push",
    "parse_record_query",
    "push_id",
    "seq_of",
    "stored_account",
]

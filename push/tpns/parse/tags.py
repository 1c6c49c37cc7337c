"""Bodies of /v3/device/tag (TPNS "标签绑定与解绑") and /v3/device/tag/delete_all_device
("删除标签下所有设备").

As TPNS documents: ``operator_type`` 1–10; ``token_list`` is required for types 1–8 and only
its first token is used for types 1–6; ``tag_list`` is required for types 1–4 and 6–8, ignored
for type 5, and only its first tag is used for types 1, 2, 7 and 8; ``tag_token_list`` is
required for types 9 and 10. Each list holds at most 500 values, a tag at most 50 characters.

Decided where TPNS is silent or contradicts itself:

- ``tag_token_list``: the field's own description and TPNS's tag guide allow 500 pairs, the
  ``operator_type`` description 20 (a sentence kept from XG's v2 batch_set); we accept 500,
  since refusing what TPNS accepted would break a client and the reverse cannot.
- A pair is ``{"tag", "token"}`` as documented, or ``["tag", "token"]``, the form XG's v2 API
  took and some v3 client libraries still send.
- A tag is 1 to 50 characters (the API reference; the tag guide says 50 bytes) and not blank.
- The tags of ``delete_all_device`` follow the same rules (at most 500, 50 characters).
- Tokens are only checked to be strings here: a token that is no token of the app (too long,
  empty, another app's) is an item the view answers with its own code.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from push import tags

from .. import invalid, missing
from .fields import Fields

MAX_ITEMS = 500  # token_list, tag_list, tag_token_list
TAG_MAX_LENGTH = tags.TAG_MAX_LENGTH  # 50, as TPNS

OPERATOR_TYPES = tuple(range(1, 11))
ADD = (1, 3, 7, 9)
REMOVE = (2, 4, 8, 10)
CLEAR, OVERWRITE = 5, 6
ONE_TOKEN = (1, 2, 3, 4, 5, 6)  # only the first token of token_list is used
ONE_TAG = (1, 2, 7, 8)  # only the first tag of tag_list is used
PAIRS = (9, 10)
MUST_BE_STRING = _("must be a string")


@dataclass
class TagOperation:
    operator_type: int
    tokens: list[str] = field(default_factory=list)  # types 1–8, as used
    tags: list[str] = field(default_factory=list)  # types 1–4 and 6–8, as used
    pairs: list[tuple[str, str]] = field(default_factory=list)  # types 9–10: (tag, token)

    @property
    def items_field(self) -> str:
        """The request field whose entries the per-item results answer."""
        return "tag_token_list" if self.operator_type in PAIRS else "token_list"

    @property
    def tags_field(self) -> str:
        return "tag_token_list" if self.operator_type in PAIRS else "tag_list"


def check_tag(value, name: str) -> str:
    if not isinstance(value, str):
        raise invalid(name, MUST_BE_STRING)
    fault = tags.name_fault(value)
    if fault == tags.BLANK:
        raise invalid(name, _("must not be empty"))
    if fault == tags.TOO_LONG:
        raise invalid(name, _("at most %(limit)s characters"), limit=TAG_MAX_LENGTH)
    return value


def _tags(f: Fields, key: str, *, first_only: bool = False) -> list[str]:
    values = f.strings(key, required=True, max_items=MAX_ITEMS)
    if first_only:
        values = values[:1]
    return [check_tag(t, f"{key}[{i}]") for i, t in enumerate(values)]


def _pair(value, name: str) -> tuple[str, str]:
    if isinstance(value, list):
        if len(value) != 2:
            raise invalid(name, _('must be {"tag": …, "token": …} or [tag, token]'))
        tag, token = value
        if not isinstance(token, str):
            raise invalid(f"{name}[1]", MUST_BE_STRING)
        return check_tag(tag, f"{name}[0]"), token
    p = Fields.of(value, name)
    for key in ("tag", "token"):
        if p.data.get(key) is None:
            raise missing(p.name(key))
    token = p.string("token")
    return check_tag(p.data["tag"], p.name("tag")), token


def parse_tag_operation(data: dict) -> TagOperation:
    """The /v3/device/tag body as a TagOperation, or a TpnsError naming the field."""
    f = Fields(data)
    op = TagOperation(f.integer("operator_type", required=True, choices=OPERATOR_TYPES))
    kind = op.operator_type
    if kind in PAIRS:
        pairs = f.array("tag_token_list", required=True, max_items=MAX_ITEMS)
        op.pairs = [_pair(p, f"tag_token_list[{i}]") for i, p in enumerate(pairs)]
        return op
    op.tokens = f.strings("token_list", required=True, max_items=MAX_ITEMS)
    if kind in ONE_TOKEN:
        op.tokens = op.tokens[:1]
    if kind != CLEAR:
        op.tags = _tags(f, "tag_list", first_only=kind in ONE_TAG)
    return op


def parse_delete_all_device(data: dict) -> list[str]:
    """The tags of a /v3/device/tag/delete_all_device body."""
    return _tags(Fields(data), "tag_list")

"""The audience of a push: tokens (checked against the app's devices), accounts, tag rules, or
an uploaded package (``upload_id``: a package of the same app)."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lib.words import Words
from push import audience, channels
from push.models import PHONE_ACCOUNT_TYPE, TOKEN_MAX_LENGTH, Push, PushPackage

from .. import RetCode, TpnsError, invalid, missing
from .accounts import normalize_or_keep
from .fields import INT32_MAX, INT64, Fields, listed, unique

MAX_TARGETS = 1000  # token_list / account_list
MAX_TAG_LIST_CHARS = 512

# TPNS's audience_type values are Push.Audience's.
AUDIENCES = {kind.value: kind for kind in Push.Audience}
PACKAGE_AUDIENCES = (Push.Audience.PACKAGE_ACCOUNT, Push.Audience.PACKAGE_TOKEN)


def parse_audience(f: Fields, push: Push) -> None:
    """Fill push.audience, the account fields and (token audiences) push.invalid_targets."""
    kind = push.audience_type
    push.account_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    push.account_push_type = f.integer("account_push_type", default=0, choices=(0, 1))
    if kind in Push.Audience.TOKENS:
        _tokens(f, push)
    elif kind in Push.Audience.ACCOUNTS:
        accounts = f.strings("account_list", required=True, max_items=MAX_TARGETS)
        if kind == Push.Audience.ACCOUNT:
            accounts = accounts[:1]  # TPNS: only the first account is used
        for i, account in enumerate(accounts):
            if not account.strip() or len(account) > 128:
                raise invalid(f"account_list[{i}]", _("must be 1 to 128 characters"))
        if push.account_type == PHONE_ACCOUNT_TYPE:
            accounts = [normalize_or_keep(a) for a in accounts]
        push.audience = {"account_list": unique(accounts)}
    elif kind == Push.Audience.TAG:
        push.audience = _tags(f)
    elif kind in PACKAGE_AUDIENCES:
        push.package = _package(f, push)
        push.audience = {"upload_id": push.package.pk}


def _package(f: Fields, push: Push) -> PushPackage:
    """The app's package ``upload_id`` names (of either kind: TPNS's upload does not say what
    a file holds, the push does); another app's is as unknown as one never uploaded."""
    upload_id = f.integer("upload_id", required=True, minimum=1, maximum=INT64[1])
    package = PushPackage.objects.filter(application=push.application, pk=upload_id).first()
    if package is None:
        raise invalid("upload_id", _("package %(id)s does not exist"), id=upload_id)
    return package


def _tokens(f: Fields, push: Push) -> None:
    tokens = f.strings("token_list", required=True, max_items=MAX_TARGETS)
    if push.audience_type == Push.Audience.TOKEN:
        tokens = tokens[:1]  # TPNS: only the first token is used
    tokens = unique(tokens)
    unknown = set(audience.unknown_tokens(push.application, tokens))
    unknown.update(t for t in tokens if len(t) > TOKEN_MAX_LENGTH)
    pruned = audience.pruned_tokens(push.application, tokens, channels.usable(push))
    invalid_tokens = [t for t in tokens if t in unknown or t in pruned]
    if invalid_tokens and push.options.get("ignore_invalid_token", 0) == 0:
        why = []
        if unknown:
            shown = listed([t for t in tokens if t in unknown])
            why.append(Words(_("not a device of this app: %(tokens)s"), tokens=shown.say))
        if pruned:
            why.append(
                Words(
                    _(
                        "its push service refused the device's token (until the app registers "
                        "again): %(tokens)s"
                    ),
                    tokens=listed(pruned).say,
                )
            )
        if len(why) == 2:
            why = [Words(_("%(first)s; %(second)s"), first=why[0].say, second=why[1].say)]
        error = TpnsError(
            RetCode.TOKEN_NOT_VALID,
            Words(
                _("%(why)s (send ignore_invalid_token: 1 to skip invalid tokens)"), why=why[0].say
            ),
            field="token_list",
        )
        error.invalid_targets, error.valid_targets = (
            invalid_tokens,
            len(tokens) - len(invalid_tokens),
        )
        raise error
    unknown.update(pruned)
    valid = [t for t in tokens if t not in unknown]
    if not valid:
        raise TpnsError(
            RetCode.TOKEN_NOT_VALID,
            Words(
                _("none of the tokens is a device of this app: %(tokens)s"),
                tokens=listed(invalid_tokens).say,
            ),
            field="token_list",
        )
    push.audience = {"token_list": valid}
    push.invalid_targets = invalid_tokens


def _tags(f: Fields) -> dict:
    # tag_rules wins over the legacy tag_list; an empty tag_rules beside a tag_list is a
    # client library's default, not rules.
    if f.has("tag_rules") and not (f.data["tag_rules"] == [] and f.has("tag_list")):
        rules = f.array("tag_rules", required=True)
        for r, rule in enumerate(rules):
            rf = Fields.of(rule, f"tag_rules[{r}]")
            rf.operator("operator")
            rf.boolean("is_not")
            for i, item in enumerate(rf.array("tag_items", required=True)):
                itf = Fields.of(item, f"{rf.name('tag_items')}[{i}]")
                itf.strings("tags", required=True)
                itf.boolean("is_not")
                itf.operator("tags_operator")
                itf.operator("items_operator")
                itf.string("tag_type")
        _check_rules(rules, "tag_rules")
        return {"tag_rules": rules}
    tag_list = f.obj("tag_list")
    if tag_list is None:
        raise missing("tag_rules", _("required for audience_type tag (or the legacy tag_list)"))
    tags = tag_list.strings("tags", required=True)
    tag_list.operator("op")
    if len(",".join(tags)) > MAX_TAG_LIST_CHARS:
        raise invalid(
            "tag_list.tags", _("at most %(limit)s characters in all"), limit=MAX_TAG_LIST_CHARS
        )
    rules = audience.legacy_tag_list_rules(tag_list.data)
    _check_rules(rules, "tag_list")
    return {"tag_rules": rules, "tag_list": tag_list.data}


def _check_rules(rules: list, name: str) -> None:
    """What push.audience will do with the rules at fan-out must work now (e.g. tag types)."""
    try:
        audience.tag_rules_q(rules, name)
    except audience.AudienceError as exc:
        # push.audience's English (it names the rule's part) in the reader's frame.
        raise invalid(
            exc.field,
            pgettext_lazy("a tag rule's refusal, in its English", "%(problem)s"),
            problem=exc.message,
        ) from None

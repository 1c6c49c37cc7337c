"""Who a push goes to: the devices of its application matching its audience, as a QuerySet.

Never evaluated in Python for large audiences: ``push.fanout`` turns it into INSERT … SELECT.

Tag rules follow TPNS: ``tag_rules`` is a list of rules ``{tag_items, operator, is_not}``; each
tag item is ``{tags, is_not, tags_operator, items_operator, tag_type}``. A rule's ``operator``
(and an item's ``items_operator``) joins it to the one before; the first one's is ignored; AND
binds tighter than OR. The legacy ``tag_list`` ``{"tags": [...], "op": "AND"|"OR"}`` is one rule
with one item.
"""

from django.db.models import Exists, F, OuterRef, Q, Subquery

from .models import Device, DeviceAccount, DeviceTag, Push, PushPackageEntry

# tag_type → how a device matches a tag value of that type.
AUTO_TAGS = {
    "xg_auto_version": lambda v: Q(app_version=v),
    "xg_auto_sdkversion": lambda v: Q(sdk_version=v),
    "xg_auto_systemlanguage": lambda v: Q(system_language__iexact=v),
    "xg_auto_devicebrand": lambda v: Q(device_brand__iexact=v),
    "xg_auto_deviceversion": lambda v: Q(os_version=v),
    "xg_auto_country": lambda v: Q(country__iexact=v),
}
TAG_TYPES = ("xg_user_define", *AUTO_TAGS)


class AudienceError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _combine(pairs) -> Q:
    """[(operator, Q), ...] with AND binding tighter than OR; the first operator is ignored."""
    groups: list[list[Q]] = []
    for i, (operator, q) in enumerate(pairs):
        if i == 0 or str(operator).upper() == "OR":
            groups.append([q])
        else:
            groups[-1].append(q)
    result = Q(pk__in=[])
    for group in groups:
        conjunction = Q()
        for q in group:
            conjunction &= q
        result |= conjunction
    return result


def _tag(tag: str, tag_type: str) -> Q:
    if tag_type in ("", "xg_user_define"):
        return Q(Exists(DeviceTag.objects.filter(device=OuterRef("pk"), tag=tag)))
    return AUTO_TAGS[tag_type](tag)


def tag_rules_q(rules, field="tag_rules") -> Q:
    pairs = []
    for r, rule in enumerate(rules):
        items = []
        for i, item in enumerate(rule.get("tag_items", [])):
            where = f"{field}[{r}].tag_items[{i}]"
            tag_type = item.get("tag_type", "xg_user_define") or "xg_user_define"
            if tag_type not in TAG_TYPES:
                raise AudienceError(f"{where}.tag_type", f"{tag_type!r} is not supported")
            tags = item.get("tags") or []
            if not tags:
                raise AudienceError(f"{where}.tags", "give at least one tag")
            q = _combine((item.get("tags_operator", "OR"), _tag(t, tag_type)) for t in tags)
            items.append((item.get("items_operator", "OR"), ~q if item.get("is_not") else q))
        if not items:
            raise AudienceError(f"{field}[{r}].tag_items", "give at least one tag item")
        q = _combine(items)
        pairs.append((rule.get("operator", "OR"), ~q if rule.get("is_not") else q))
    if not pairs:
        raise AudienceError(field, "give at least one rule")
    return _combine(pairs)


def legacy_tag_list_rules(tag_list: dict) -> list[dict]:
    return [
        {
            "operator": "OR",
            "tag_items": [
                {"tags": tag_list.get("tags", []), "tags_operator": tag_list.get("op", "OR")}
            ],
        }
    ]


def devices(push: Push):
    """The target devices of a push (a lazy QuerySet)."""
    app_devices = Device.objects.filter(application_id=push.application_id)
    kind, audience = push.audience_type, push.audience
    if kind == Push.Audience.ALL:
        return app_devices
    if kind == Push.Audience.TAG:
        return app_devices.filter(tag_rules_q(audience["tag_rules"]))
    if kind in Push.Audience.TOKENS:
        return app_devices.filter(token__any=audience["token_list"])
    if kind == Push.Audience.PACKAGE_TOKEN:
        return app_devices.filter(token__in=_package_values(push))
    if kind in Push.Audience.ACCOUNTS or kind == Push.Audience.PACKAGE_ACCOUNT:
        links = DeviceAccount.objects.filter(
            application_id=push.application_id, account_type=push.account_type
        )
        if kind == Push.Audience.PACKAGE_ACCOUNT:
            links = links.filter(account__in=_package_values(push))
        else:
            links = links.filter(account__any=audience["account_list"])
        if push.account_push_type == 0:
            # TPNS default: only the device the account was bound to last.
            latest = (
                DeviceAccount.objects.filter(
                    application_id=push.application_id,
                    account_type=push.account_type,
                    account=OuterRef("account"),
                )
                .order_by("-created_at", "-id")
                .values("device_id")[:1]
            )
            links = links.annotate(latest=Subquery(latest)).filter(device_id=F("latest"))
        return app_devices.filter(pk__in=links.values("device_id"))
    raise AudienceError("audience_type", f"{kind!r} is not supported")


def _package_values(push: Push):
    """The lines of the push's package, as a subquery (a package push joins them in the
    database, never in Python); the application is checked again, not only at accept time."""
    return PushPackageEntry.objects.filter(
        package_id=push.package_id, package__application_id=push.application_id
    ).values("value")


def unknown_tokens(application, tokens) -> list[str]:
    known = set(
        Device.objects.filter(application=application, token__any=tokens).values_list(
            "token", flat=True
        )
    )
    return [t for t in tokens if t not in known]


def pruned_tokens(application, tokens, services) -> list[str]:
    """Of ``tokens``, those whose device is on one of ``services`` (the push services the
    push may take) with a channel token the service refused for good: TPNS counted such a
    token invalid too, and nothing would reach it until the app registers again."""
    if not services:
        return []
    pruned = set(
        Device.objects.filter(
            application=application,
            token__any=tokens,
            channel__in=services,
            channel_token_invalid_at__isnull=False,
        ).values_list("token", flat=True)
    )
    return [t for t in tokens if t in pruned]

"""Binding custom tags to devices: the one set (``DeviceTag``) that the TPNS tag API, the SDK's
registration and tag audiences share, with TPNS's limits (at most ``MAX_TAGS_PER_DEVICE`` tags
on a device, ``MAX_TAGS_PER_APP`` distinct tags in an application).

Every write is set-based: one INSERT … ON CONFLICT DO NOTHING for all the pairs of a call, one
DELETE for all the pairs it removes; removing a tag from a whole application deletes in chunks
of one statement each.

Race-freedom: a call that adds tags locks the rows of its devices (``SELECT … FOR UPDATE`` in
id order) before it counts their tags, so two calls adding to one device, or a call and the
SDK's registration (which updates the device row before it replaces its tags), count one after
the other. A call that brings tags new to the application also takes the application's
``push-tags`` advisory lock before it counts the application's tags.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from lib.locks import key_sql

from .models import Device, DeviceTag

MAX_TAGS_PER_DEVICE = 100  # TPNS: a device token is bound to at most 100 custom tags
MAX_TAGS_PER_APP = 10_000  # TPNS: an application has at most 10,000 custom tags
DELETE_CHUNK = 10_000  # rows per statement when a tag leaves all of an app's devices
TAG_MAX_LENGTH = DeviceTag._meta.get_field("tag").max_length  # 50, as TPNS

# Why a tag name is refused (``name_fault``).
BLANK, TOO_LONG = "blank", "too_long"


def name_fault(tag: str) -> str:
    """Why ``tag`` cannot be a tag, or "": 1 to ``TAG_MAX_LENGTH`` characters, not blank (the
    rule of TPNS's tag API, which the console and tag imports follow too)."""
    if not tag.strip():
        return BLANK
    if len(tag) > TAG_MAX_LENGTH:
        return TOO_LONG
    return ""


class AppTagLimit(Exception):
    """Binding would give the application more than ``MAX_TAGS_PER_APP`` distinct tags."""

    def __init__(self, bound: int, new: list[str]):
        self.bound, self.new = bound, new
        super().__init__(
            f"the application has {bound} custom tags and at most {MAX_TAGS_PER_APP}; "
            f"{len(new)} more would pass the limit"
        )


def tag_class(tag: str) -> str | None:
    """The class of a ``class:value`` tag (what precedes its first colon), else None."""
    return tag.split(":", 1)[0] if ":" in tag else None


def _pairs_q(pairs: Iterable[tuple[int, str]]) -> Q:
    """The rows of the (device id, tag) pairs: one condition per tag, not one per pair."""
    by_tag: dict[str, list[int]] = defaultdict(list)
    for device_id, tag in pairs:
        by_tag[tag].append(device_id)
    wanted = Q(pk__in=[])
    for tag, device_ids in by_tag.items():
        wanted |= Q(tag=tag, device_id__any=device_ids)
    return wanted


def _lock_devices(device_ids) -> None:
    list(
        Device.objects.select_for_update()
        .filter(pk__any=sorted(device_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _absent(application_id: int, tags: list[str]) -> list[str]:
    """Of ``tags``, those no device of the application carries."""
    if not tags:
        return []
    if connection.vendor != "postgresql":
        present = set(
            DeviceTag.objects.filter(application_id=application_id, tag__in=tags).values_list(
                "tag", flat=True
            )
        )
        return [t for t in tags if t not in present]
    # One index probe per tag: a DISTINCT over a tag a million devices carry would read them all.
    table = DeviceTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t FROM unnest(%s::varchar[]) AS t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} d WHERE d.application_id = %s AND d.tag = t)",
            [tags, application_id],
        )
        return [row[0] for row in cursor.fetchall()]


# A skip scan over push_tag_audience_idx (application, tag, device): one probe per distinct
# tag, whatever the number of devices each carries. Parameters: the application id, twice.
_SKIP_SCAN = (
    "SELECT min(tag) FROM {table} WHERE application_id = %s"
    " UNION ALL"
    " SELECT (SELECT min(d.tag) FROM {table} d WHERE d.application_id = %s AND d.tag > t.tag)"
    " FROM t WHERE t.tag IS NOT NULL"
)


def distinct_tags(application_id: int) -> int:
    """How many distinct tags the application's devices carry."""
    if connection.vendor != "postgresql":
        return (
            DeviceTag.objects.filter(application_id=application_id).values("tag").distinct().count()
        )
    table = DeviceTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE t(tag) AS ({_SKIP_SCAN.format(table=table)}) SELECT count(tag) FROM t",
            [application_id, application_id],
        )
        return cursor.fetchone()[0]


def check_app_limit(application_id: int, tags: Iterable[str]) -> None:
    """Raise AppTagLimit if binding ``tags`` would pass the application's limit."""
    tags = list(dict.fromkeys(tags))
    if not _absent(application_id, tags):
        return  # no tag new to the app: its count cannot grow, and no lock is needed
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_advisory_xact_lock({key_sql('push-tags', '%s')})",
                [str(application_id)],
            )
    new = _absent(application_id, tags)  # again: a call holding the lock may have added some
    bound = distinct_tags(application_id) if new else 0
    if new and bound + len(new) > MAX_TAGS_PER_APP:
        raise AppTagLimit(bound, new)


def _insert(application_id: int, pairs: Iterable[tuple[int, str]]) -> None:
    DeviceTag.objects.bulk_create(
        [DeviceTag(device_id=d, application_id=application_id, tag=t) for d, t in pairs],
        ignore_conflicts=True,
    )


def add(application_id: int, pairs: Iterable[tuple[int, str]]) -> set[int]:
    """Bind the (device id, tag) pairs (devices of the application). A device that would
    carry more than ``MAX_TAGS_PER_DEVICE`` tags gets none of its pairs: the returned set.
    Pairs already bound are no change. Raises AppTagLimit (nothing written) if the tags new
    to the application would pass its limit."""
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return set()
    device_ids = {d for d, _ in pairs}
    with transaction.atomic():
        _lock_devices(device_ids)
        carried = dict(
            DeviceTag.objects.filter(device_id__any=sorted(device_ids))
            .values("device_id")
            .annotate(n=Count("pk"))
            .values_list("device_id", "n")
        )
        bound = set(DeviceTag.objects.filter(_pairs_q(pairs)).values_list("device_id", "tag"))
        new = [p for p in pairs if p not in bound]
        adding = Counter(d for d, _ in new)
        refused = {d for d, n in adding.items() if carried.get(d, 0) + n > MAX_TAGS_PER_DEVICE}
        rows = [p for p in new if p[0] not in refused]
        check_app_limit(application_id, (t for _, t in rows))
        _insert(application_id, rows)
    return refused


def overwrite(application_id: int, device_id: int, tags: list[str]) -> bool:
    """TPNS's overwrite (operator type 6) of one device's tags; False (nothing written) if the
    device would carry more than ``MAX_TAGS_PER_DEVICE`` tags.

    When every tag is a ``class:value`` tag, each replaces the device's tags of its class
    (``level:3`` replaces ``level:1`` and ``level:2``) and tags of other classes, or of none,
    stay; otherwise the tags replace all the device's tags. Raises AppTagLimit (nothing
    written) if the tags new to the application would pass its limit."""
    tags = list(dict.fromkeys(tags))
    with transaction.atomic():
        _lock_devices([device_id])
        carried = set(DeviceTag.objects.filter(device_id=device_id).values_list("tag", flat=True))
        classes = {tag_class(t) for t in tags}
        if None in classes:
            kept = set()
        else:
            kept = {t for t in carried if tag_class(t) not in classes}
        final = kept | set(tags)
        if len(final) > MAX_TAGS_PER_DEVICE:
            return False
        dropped = carried - final
        if dropped:
            DeviceTag.objects.filter(device_id=device_id, tag__any=sorted(dropped)).delete()
        added = [t for t in tags if t not in carried]
        check_app_limit(application_id, added)
        _insert(application_id, ((device_id, t) for t in added))
    return True


def remove(application_id: int, pairs: Iterable[tuple[int, str]]) -> int:
    """Unbind the (device id, tag) pairs, in one DELETE; returns the rows deleted."""
    pairs = list(pairs)
    if not pairs:
        return 0
    deleted, _ = (
        DeviceTag.objects.filter(application_id=application_id).filter(_pairs_q(pairs)).delete()
    )
    return deleted


def clear(application_id: int, device_ids: Iterable[int]) -> int:
    """Unbind every tag of the devices, in one DELETE; returns the rows deleted."""
    deleted, _ = DeviceTag.objects.filter(
        application_id=application_id, device_id__any=list(device_ids)
    ).delete()
    return deleted


def remove_everywhere(application_id: int, tags: list[str], *, chunk: int = DELETE_CHUNK) -> int:
    """Unbind the tags from every device of the application; returns the rows deleted. A tag
    may be on millions of devices: each chunk of ``chunk`` rows is one DELETE, committed on
    its own, so no statement or transaction holds them all."""
    tags = list(dict.fromkeys(tags))
    total = 0
    while tags:
        batch = DeviceTag.objects.filter(application_id=application_id, tag__any=tags).values("pk")
        deleted, _ = DeviceTag.objects.filter(pk__in=batch[:chunk]).delete()
        total += deleted
        if deleted < chunk:
            break
    return total


# Set-based forms of ``add`` and ``remove`` for one tag and many devices (the console's bulk
# action, tag imports): the devices are a QuerySet, never read into Python.


@dataclass
class Tagged:
    """What ``add_to`` did: ``added`` rows, and the devices it left out (``refused``, a lazy
    QuerySet: those of the set still without the tag, which carry ``MAX_TAGS_PER_DEVICE``)."""

    added: int
    refused: QuerySet


def _subquery_sql(devices: QuerySet) -> tuple[str, tuple]:
    return devices.order_by().values("pk").query.sql_with_params()


def without(devices: QuerySet, tag: str) -> QuerySet:
    """The devices of ``devices`` that do not carry ``tag``."""
    carrying = DeviceTag.objects.filter(device=OuterRef("pk"), tag=tag)
    return devices.filter(~Exists(carrying))


def add_to(application_id: int, devices: QuerySet, tag: str) -> Tagged:
    """Bind ``tag`` to ``devices`` (devices of the application) in one INSERT … SELECT. A
    device that carries ``MAX_TAGS_PER_DEVICE`` tags already is left out (``Tagged.refused``),
    as ``add`` leaves it out. Raises AppTagLimit (nothing written) if the tag is new to the
    application and would pass its limit, ValueError for a name ``name_fault`` refuses.

    As in ``add``, the devices' rows are locked (in id order) before their tags are counted."""
    if fault := name_fault(tag):
        raise ValueError(f"tag: {fault}")
    devices = devices.filter(application_id=application_id)
    sub, params = _subquery_sql(devices)
    device_table, table = Device._meta.db_table, DeviceTag._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT count(*) FROM (SELECT id FROM {device_table} "
                f"WHERE id IN ({sub}) ORDER BY id FOR UPDATE) AS locked",
                params,
            )
        check_app_limit(application_id, [tag])
        cursor.execute(
            f"INSERT INTO {table} (device_id, application_id, tag) "
            f"SELECT d.id, %s, %s FROM {device_table} d "
            f"WHERE d.application_id = %s AND d.id IN ({sub}) "
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.device_id = d.id AND t.tag = %s) "
            f"AND (SELECT count(*) FROM {table} t WHERE t.device_id = d.id) < %s "
            f"ON CONFLICT DO NOTHING",
            [application_id, tag, application_id, *params, tag, MAX_TAGS_PER_DEVICE],
        )
        added = cursor.rowcount
    return Tagged(added=added, refused=without(devices, tag))


def remove_from(application_id: int, devices: QuerySet, tag: str) -> int:
    """Unbind ``tag`` from ``devices`` in one DELETE; returns the rows deleted."""
    deleted, _ = DeviceTag.objects.filter(
        application_id=application_id, tag=tag, device_id__in=devices.values("pk")
    ).delete()
    return deleted


def counts(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """How many devices carry each (application id, tag): one GROUP BY over
    ``push_tag_audience_idx`` (application, tag, device), read for these tags only."""
    by_app: dict[int, list[str]] = defaultdict(list)
    for application_id, tag in pairs:
        by_app[application_id].append(tag)
    if not by_app:
        return {}
    wanted = Q(pk__in=[])
    for application_id, app_tags in by_app.items():
        wanted |= Q(application_id=application_id, tag__any=app_tags)
    rows = (
        DeviceTag.objects.filter(wanted)
        .values("application_id", "tag")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("application_id", "tag", "n")
    )
    return {(a, t): n for a, t, n in rows}


def names(application_id: int) -> list[str]:
    """The distinct tags of the application, in order (at most ``MAX_TAGS_PER_APP``)."""
    if connection.vendor != "postgresql":
        return list(
            DeviceTag.objects.filter(application_id=application_id)
            .values_list("tag", flat=True)
            .distinct()
            .order_by("tag")
        )
    table = DeviceTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE t(tag) AS ({_SKIP_SCAN.format(table=table)}) "
            f"SELECT tag FROM t WHERE tag IS NOT NULL ORDER BY tag",
            [application_id, application_id],
        )
        return [row[0] for row in cursor.fetchall()]

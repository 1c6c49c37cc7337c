"""Channels in the figures: a push's figures per channel (push page, management API, TPNS's
get_push_task_stat_channel), an application's channel health, a device's pruned token.

Deliveries are written straight into the database in the states the sender and the SDK leave
them in: no channel is needed to count them."""

import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKeyPair
from push import channel_health, stats
from push.models import Application, ChannelCredentials, Delivery, Platform, Push, PushStats
from tests.conftest import basic_auth
from tests.push.conftest import add_device
from tests.push.test_tpns_auth import tpns

# Every test's "now", set when it starts: the console pages count from the real clock.
NOW = timezone.now().replace(microsecond=0)
APNS_TOKEN = "a1" * 32
FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "x" * 40


@pytest.fixture(autouse=True)
def now(monkeypatch):
    moment = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(sys.modules[__name__], "NOW", moment)
    return moment


@pytest.fixture
def ios_app(personas):
    app, secret = Application.objects.create_for(
        personas.org, name="Acme iOS", platform=Platform.IOS
    )
    app.test_secret = secret
    return app


def configure(app, *channels):
    """Credentials rows for ``channels`` (nothing reads their secret here)."""
    for kind in channels:
        ChannelCredentials.objects.create(
            application=app, channel=kind, secret_sealed="-", fingerprint=kind
        )


def make_push(app, *, created=None, expires=None) -> Push:
    created = created or NOW
    return Push.objects.create(
        application=app,
        status=Push.Status.FINISHED,
        audience_type=Push.Audience.ALL,
        message_type=Push.MessageType.NOTIFY,
        created_at=created,
        send_at=created,
        expires_at=expires or created + timedelta(days=1),
    )


class Deliveries:
    """Deliveries of one push, each to a new device of its application."""

    def __init__(self, push):
        self.push, self.n = push, 0

    def add(self, channel, state, **fields) -> Delivery:
        self.n += 1
        token = f"{self.push.pk}-{self.n}"
        device = add_device(self.push.application, token)
        return Delivery.objects.create(
            push=self.push, device=device, channel=channel, state=state, **fields
        )

    def accepted(self, channel, at=None, **fields) -> Delivery:
        """Accepted as the sender records it: sent_at and the answer time."""
        return self.add(channel, "sent", sent_at=at or NOW, answered_at=at or NOW, **fields)

    def refused(self, channel, reason, at=None) -> Delivery:
        return self.add(channel, "failed", channel_answer=reason, answered_at=at or NOW)


@pytest.fixture
def mixed_push(ios_app):
    """A push whose deliveries took all three channels, in every state they can end in."""
    push = make_push(ios_app)
    d = Deliveries(push)
    # Built-in: in the inbox on insert (sent_at, no answer time).
    d.add("builtin", "sent", sent_at=NOW)
    d.add("builtin", "clicked", sent_at=NOW, arrived_at=NOW, clicked_at=NOW)
    d.add("builtin", "expired", sent_at=NOW)  # accepted, then expired unarrived: accepted
    # APNs: one of each.
    d.add("apns", "queued", send_after=NOW)
    d.add("apns", "sending", send_lease_until=NOW)
    d.add("apns", "unknown", channel_answer="lost: timeout", answered_at=NOW)
    d.refused("apns", "Unregistered")
    d.refused("apns", "Unregistered")
    d.refused("apns", "BadDeviceToken")
    d.accepted("apns")
    d.accepted("apns", outcome=Delivery.Outcome.SENT)
    # Its answer was lost, then the SDK reported it arrived: the arrival proves it was taken.
    d.add("apns", "arrived", arrived_at=NOW, channel_answer="lost: timeout", answered_at=NOW)
    d.add("apns", "expired", channel_answer="expired before it was sent", answered_at=NOW)
    # FCM.
    d.refused("fcm", "UNREGISTERED")
    d.add("fcm", "dismissed", sent_at=NOW, arrived_at=NOW, dismissed_at=NOW, answered_at=NOW)
    return push


def local(moment, personas) -> str:
    """A time as the console shows it (in the account's time zone)."""
    return timezone.localtime(moment, personas.org.tz).strftime("%Y-%m-%d %H:%M:%S")


def by_channel(figures) -> dict:
    return {c["channel"]: c for c in figures["channels"]}


# A push's figures per channel ----------------------------------------------------------------


def test_each_channel_has_its_own_figures(mixed_push):
    channels = by_channel(stats.summary(mixed_push))

    assert list(channels) == ["builtin", "apns", "fcm"]
    assert channels["builtin"] == {
        "channel": "builtin",
        "targets": 3,
        "accepted": 3,
        "waiting": 0,
        "unknown": 0,
        "refused": 0,
        "expired": 0,
        "arrived": 1,
        "clicked": 1,
        "dismissed": 0,
        "arrived_by_vendor": 0,
        "clicked_by_vendor": 0,
        "sms_sent": 0,
        "over_quota": 0,
        "refused_by_reason": [],
        "refused_other": 0,
    }
    assert channels["apns"] == {
        "channel": "apns",
        "targets": 10,
        "accepted": 3,
        "waiting": 2,
        "unknown": 1,
        "refused": 3,
        "expired": 1,
        "arrived": 1,
        "clicked": 0,
        "dismissed": 0,
        "arrived_by_vendor": 0,
        "clicked_by_vendor": 0,
        "sms_sent": 1,
        "over_quota": 0,
        "refused_by_reason": [
            {"reason": "Unregistered", "count": 2},
            {"reason": "BadDeviceToken", "count": 1},
        ],
        "refused_other": 0,
    }
    fcm = channels["fcm"]
    assert (fcm["targets"], fcm["accepted"], fcm["refused"], fcm["dismissed"]) == (2, 1, 1, 1)
    assert fcm["refused_by_reason"] == [{"reason": "UNREGISTERED", "count": 1}]


def test_a_channels_parts_add_up_to_its_targets_and_the_channels_to_the_push(mixed_push):
    figures = stats.summary(mixed_push)

    parts = ("accepted", "waiting", "unknown", "refused", "expired")
    for channel in figures["channels"]:
        assert sum(channel[p] for p in parts) == channel["targets"], channel["channel"]
    assert sum(c["targets"] for c in figures["channels"]) == figures["targets"] == 15
    assert sum(c["refused"] for c in figures["channels"]) == figures["failed"] == 4
    # The funnel is unchanged by the grouping per channel.
    assert (figures["sent"], figures["arrived"], figures["expired"]) == (6, 3, 2)


def test_only_the_top_refusal_reasons_are_listed_and_the_rest_are_summed(ios_app):
    push = make_push(ios_app)
    d = Deliveries(push)
    counts = {"Unregistered": 4, "BadDeviceToken": 3, "gave up: TooManyRequests": 2}
    counts |= {f"Reason{i}": 1 for i in range(stats.TOP_REASONS)}
    for reason, n in counts.items():
        for _ in range(n):
            d.refused("apns", reason)

    [apns] = stats.summary(push)["channels"]

    listed = [(r["reason"], r["count"]) for r in apns["refused_by_reason"]]
    assert (
        listed
        == [
            ("Unregistered", 4),
            ("BadDeviceToken", 3),
            ("gave up: TooManyRequests", 2),
            ("Reason0", 1),
            ("Reason1", 1),
        ][: stats.TOP_REASONS]
    )
    assert apns["refused_other"] == sum(counts.values()) - sum(n for _, n in listed)
    assert apns["refused"] == sum(counts.values())


def test_the_figures_of_many_pushes_keep_their_channels_apart(ios_app, mixed_push):
    other = make_push(ios_app)
    Deliveries(other).refused("fcm", "SENDER_ID_MISMATCH")

    figures = stats.compute([mixed_push, other])

    assert [c["channel"] for c in figures[other.pk]["channels"]] == ["fcm"]
    [fcm] = figures[other.pk]["channels"]
    assert fcm["refused_by_reason"] == [{"reason": "SENDER_ID_MISMATCH", "count": 1}]
    assert by_channel(figures[mixed_push.pk])["fcm"]["refused"] == 1


def test_the_stored_figures_carry_the_channels_and_older_ones_are_counted_again(
    mixed_push, monkeypatch
):
    monkeypatch.setattr(stats, "LIVE_LIMIT", 1)
    Push.objects.filter(pk=mixed_push.pk).update(targets=15)
    mixed_push.refresh_from_db()
    stats.store([mixed_push], now=NOW)
    Delivery.objects.filter(push=mixed_push, state="queued").update(state="failed")

    stored = stats.summary(mixed_push, now=NOW)
    assert "as_of" in stored
    assert by_channel(stored)["apns"]["waiting"] == 2  # as stored, not counted again

    # Figures stored before the channels existed: counted live instead of shown without them.
    row = PushStats.objects.get(pk=mixed_push.pk)
    row.figures = {k: v for k, v in row.figures.items() if k != "channels"}
    row.save()
    live = stats.summary(mixed_push, now=NOW)
    assert "as_of" not in live
    assert by_channel(live)["apns"]["waiting"] == 1


# The push page and the management API --------------------------------------------------------


def test_the_push_page_has_a_row_per_channel_that_carried_deliveries(ios_app, client, personas):
    push = make_push(ios_app)
    d = Deliveries(push)
    d.add("builtin", "sent", sent_at=NOW)
    d.accepted("apns")
    d.refused("apns", "BadDeviceToken")
    client.force_login(personas.owner)

    page = client.get(f"/a/{personas.org.pk}/push/pushes/{push.pk}/")

    assert [(r["channel"], r["targets"]) for r in page.context["channel_rows"]] == [
        ("builtin", 1),
        ("apns", 2),
    ]
    text = page.content.decode()
    assert 'class="channel-row-apns"' in text and 'class="channel-row-builtin"' in text
    assert "channel-row-fcm" not in text
    apns_row = text.split('class="channel-row-apns"')[1].split("</tr>")[0]
    assert "Apple Push Notification service" in apns_row
    assert '<td class="n figure-accepted">1</td>' in apns_row
    assert '<td class="n figure-refused">1</td>' in apns_row
    reasons = text.split('class="channel-reasons-apns"')[1].split("</tr>")[0]
    assert "<code>BadDeviceToken</code> 1" in reasons


def test_the_api_push_detail_has_the_channels_beside_its_keys(mixed_push, personas):
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    api = Client(HTTP_AUTHORIZATION=basic_auth(key.secret_id, secret))

    body = api.get(f"/api/v1/pushes/{mixed_push.pk}").json()

    assert {"push_id", "targets", "sent", "arrived", "failed", "sms", "application"} <= set(body)
    apns = {c["channel"]: c for c in body["channels"]}["apns"]
    assert (apns["targets"], apns["refused"], apns["waiting"]) == (10, 3, 2)
    assert apns["refused_by_reason"][0] == {"reason": "Unregistered", "count": 2}


# TPNS's get_push_task_stat_channel ------------------------------------------------------------


def channel_stat(client, app, push) -> dict:
    answer = tpns(client, app, "statistics/get_push_task_stat_channel", {"pushId": push.push_id})
    body = answer.json()
    assert body["retCode"] == 0, body
    return {entry["channel"]: entry["pushState"] for entry in body["pushStatDataAll"]}


def test_tpns_channel_statistics_report_xg_apns_fcm_and_their_sum(client, ios_app, mixed_push):
    states = channel_stat(client, ios_app, mixed_push)

    assert list(states) == ["xg", "apns", "fcm", "all"]
    assert states["xg"] == {
        "pushActiveUv": 3,
        "pushOnlineUv": 3,
        "arrivalUv": 1,
        "verifySvcUv": 1,
        "clickUv": 1,
        "cleanupUv": 0,
        "callbackVerifySvcUv": 0,
        "verifyUv": 1,
    }
    assert states["apns"] == {
        "pushActiveUv": 10,
        "pushOnlineUv": 3,  # APNs accepted two; the third arrived after its answer was lost
        "arrivalUv": 1,
        "verifySvcUv": 1,
        "clickUv": 0,
        "cleanupUv": 0,
        "callbackVerifySvcUv": 0,
        "verifyUv": 1,
    }
    assert states["fcm"] == {
        "pushActiveUv": 2,
        "pushOnlineUv": 1,
        "arrivalUv": 1,
        "verifySvcUv": 1,
        "clickUv": 0,
        "cleanupUv": 1,
        "callbackVerifySvcUv": 0,
        "verifyUv": 1,
    }
    assert states["all"] == {
        "pushActiveUv": 15,
        "pushOnlineUv": 7,
        "arrivalUv": 3,
        "verifySvcUv": 3,
        "clickUv": 1,
        "cleanupUv": 1,
        # The doc's formula: the vendors' receipts plus the arrivals of xg, APNs and FCM.
        "callbackVerifySvcUv": 3,
        "verifyUv": 3,
    }


def test_tpns_channel_statistics_list_xg_always_and_a_service_only_when_it_carried(client, ios_app):
    push = make_push(ios_app)
    Deliveries(push).accepted("apns")

    states = channel_stat(client, ios_app, push)

    assert list(states) == ["xg", "apns", "all"]
    assert states["xg"]["pushActiveUv"] == 0
    assert states["apns"]["pushOnlineUv"] == states["all"]["pushOnlineUv"] == 1


def test_tpns_channel_statistics_name_the_vendor_channels_as_tpns_did(client, app):
    push = make_push(app)
    d = Deliveries(push)
    for channel in ("huawei", "xiaomi", "oppo", "vivo", "honor", "meizu"):
        d.accepted(channel)
    d.add("huawei", "arrived", sent_at=NOW, arrived_at=NOW, arrival_source="vendor")

    states = channel_stat(client, app, push)

    assert list(states) == ["xg", "hw", "xm", "oppo", "vivo", "honor", "mz", "all"]
    assert states["hw"]["pushActiveUv"] == 2 and states["hw"]["arrivalUv"] == 1
    assert states["mz"]["pushOnlineUv"] == 1
    assert states["all"]["pushActiveUv"] == 7


def test_the_app_page_shows_each_configured_vendors_health(login, personas, app):
    from push import channels

    channels.store_credentials(
        app, "huawei", {"app_id": "1044", "client_id": "1044", "client_secret": "s"}
    )
    push = make_push(app)
    d = Deliveries(push)
    d.accepted("huawei")
    d.refused("huawei", "80300007")

    health = {h.channel: h for h in channel_health.of_application(app, NOW).channels}
    page = login(personas.owner).get(f"/a/{app.account_id}/push/applications/{app.pk}/")

    assert health["huawei"].configured and health["huawei"].refused == 1
    assert health["huawei"].refused_by_reason == [("80300007", 1)]
    assert "Huawei Push Kit" in page.content.decode()


# The application's channel health ------------------------------------------------------------


@pytest.fixture
def apns_history(ios_app):
    """An iOS app with APNs credentials and a day of APNs answers, with answers around it that
    must not count: too old, on another channel, of another application."""
    configure(ios_app, "apns")
    recent = make_push(ios_app, created=NOW - timedelta(hours=5))
    d = Deliveries(recent)
    d.accepted("apns", at=NOW - timedelta(hours=2))
    d.accepted("apns", at=NOW - timedelta(hours=1))
    d.accepted("fcm", at=NOW - timedelta(minutes=10))  # another channel
    d.add("builtin", "sent", sent_at=NOW - timedelta(minutes=5), answered_at=NOW)  # moved
    d.refused("apns", "Unregistered", at=NOW - timedelta(hours=3))
    d.refused("apns", "Unregistered", at=NOW - timedelta(hours=4))
    d.refused("apns", "BadDeviceToken", at=NOW - timedelta(hours=4))
    d.refused("apns", "pruned: Unregistered", at=NOW - timedelta(hours=4))
    # A push of two days ago, long expired: its answers are out of the window.
    old = make_push(ios_app, created=NOW - timedelta(days=2), expires=NOW - timedelta(hours=30))
    o = Deliveries(old)
    o.accepted("apns", at=NOW - timedelta(days=2))
    o.refused("apns", "BadDeviceToken", at=NOW - timedelta(days=2))
    # A push that expired an hour into the window, answered before the window began.
    edge = make_push(ios_app, created=NOW - timedelta(hours=48), expires=NOW - timedelta(hours=23))
    Deliveries(edge).refused("apns", "Unregistered", at=NOW - timedelta(hours=25))
    # A huge push whose fan-out ran past its expiry: a pruned token refused in the window.
    late = make_push(
        ios_app, created=NOW - timedelta(hours=25), expires=NOW - timedelta(hours=24.5)
    )
    Deliveries(late).refused("apns", "pruned: BadDeviceToken", at=NOW - timedelta(hours=23.9))
    # Devices: registered on APNs, two pruned (one in the window), one on the built-in channel.
    fresh = {"channel": "apns", "channel_token": APNS_TOKEN, "channel_token_at": NOW}
    add_device(ios_app, "apns-ok", **fresh)
    add_device(
        ios_app,
        "apns-pruned-today",
        channel_token_invalid_at=NOW - timedelta(hours=2),
        channel_token_invalid_reason="Unregistered",
        **fresh,
    )
    add_device(
        ios_app,
        "apns-pruned-long-ago",
        channel_token_invalid_at=NOW - timedelta(days=3),
        channel_token_invalid_reason="BadDeviceToken",
        **fresh,
    )
    return ios_app


def test_channel_health_covers_the_last_day_of_a_configured_channel(
    apns_history, personas, django_assert_max_num_queries
):
    Deliveries(make_push(add_other_app(personas))).refused("apns", "Unregistered")

    with django_assert_max_num_queries(4):
        health = channel_health.of_application(apns_history, now=NOW)

    [apns] = health.channels
    assert (apns.channel, apns.configured, apns.over_builtin) == ("apns", True, False)
    assert apns.last_success == NOW - timedelta(hours=1)
    assert apns.refused == 5
    assert apns.refused_by_reason == [
        ("Unregistered", 2),
        ("BadDeviceToken", 1),
        ("pruned: BadDeviceToken", 1),
        ("pruned: Unregistered", 1),
    ]
    assert (apns.pruned_recently, apns.pruned_total) == (1, 2)
    # Devices: three registered on APNs; the deliveries' own devices are on the built-in one.
    assert apns.devices == 3
    assert health.devices["total"] == health.builtin_devices + 3


def add_other_app(personas):
    app, _ = Application.objects.create_for(
        personas.outsider_account, name="Other iOS", platform=Platform.IOS
    )
    configure(app, "apns")
    return app


def test_a_channel_without_success_in_the_window_says_none(ios_app):
    configure(ios_app, "fcm")
    push = make_push(ios_app, created=NOW - timedelta(hours=3))
    Deliveries(push).refused("fcm", "UNREGISTERED", at=NOW - timedelta(hours=2))

    [fcm] = channel_health.of_application(ios_app, now=NOW).channels

    assert (fcm.channel, fcm.last_success, fcm.refused) == ("fcm", None, 1)


def test_devices_on_a_service_without_credentials_are_listed_as_reached_over_builtin(
    app, client, personas
):
    for i in range(2):
        add_device(app, f"fcm-{i}", channel="fcm", channel_token=FCM_TOKEN, channel_token_at=NOW)
    add_device(app, "plain")

    health = channel_health.of_application(app, now=NOW)

    [fcm] = health.channels
    assert (fcm.channel, fcm.configured, fcm.devices, fcm.over_builtin) == ("fcm", False, 2, True)
    assert health.builtin_devices == 1
    client.force_login(personas.owner)
    text = client.get(f"/a/{personas.org.pk}/push/applications/{app.pk}/").content.decode()
    row = text.split('class="health-row-fcm"')[1].split("</tr>")[0]
    assert "no credentials" in row
    said = " ".join(row.split())
    assert "these 2 devices registered with Firebase Cloud Messaging tokens" in said
    assert "are reached over the built-in channel instead" in said


def test_an_app_with_no_service_and_no_service_devices_lists_no_channel(app):
    add_device(app, "plain")

    health = channel_health.of_application(app, now=NOW)

    assert health.channels == []
    assert health.devices == {"total": 1, "enabled": 1}


def test_the_application_page_shows_the_channel_health(apns_history, client, personas):
    client.force_login(personas.owner)

    page = client.get(f"/a/{personas.org.pk}/push/applications/{apns_history.pk}/")

    [apns] = page.context["channel_health"].channels
    assert (apns.refused, apns.last_success) == (5, NOW - timedelta(hours=1))
    text = page.content.decode()
    row = text.split('class="health-row-apns"')[1].split("</tr>")[0]
    assert local(NOW - timedelta(hours=1), personas) in row
    assert "<code>Unregistered</code> 2" in row
    assert '<td class="pruned">1 / 2</td>' in row
    assert '<td class="devices">3</td>' in row


def explain(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
def test_the_window_is_read_through_its_indexes(apns_history):
    """The health panel's delivery queries are served by the partial indexes they are written
    for (with sequential scans ruled out, a query its index cannot serve shows another plan)."""
    since = NOW - channel_health.WINDOW
    pushes = channel_health.window_pushes(apns_history, since)
    refusals = channel_health.refusals(pushes, since, ["apns"])
    push = pushes.first()
    accepted = channel_health.latest_acceptance(push, "apns", since)

    assert "push_app_expiry_idx" in explain(pushes)
    assert "push_delivery_refused_idx" in explain(refusals)
    assert "push_delivery_accepted_idx" in explain(accepted)


# The device page -----------------------------------------------------------------------------


def pruned_device(app):
    return add_device(
        app,
        "pruned",
        channel="apns",
        channel_token=APNS_TOKEN,
        channel_token_at=NOW - timedelta(days=1),
        channel_token_invalid_at=NOW - timedelta(hours=2),
        channel_token_invalid_reason="Unregistered",
    )


def test_the_device_page_says_a_pruned_token_is_not_pushed_to_until_registered_again(
    ios_app, client, personas
):
    configure(ios_app, "apns")
    device = pruned_device(ios_app)
    Delivery.objects.create(
        push=make_push(ios_app),
        device=device,
        channel="apns",
        state="failed",
        channel_answer="pruned: Unregistered",
        answered_at=NOW,
    )
    client.force_login(personas.owner)

    text = client.get(f"/a/{personas.org.pk}/push/devices/{device.pk}/").content.decode()

    notice = " ".join(text.split('id="token-pruned"')[1].split("</p>")[0].split())
    assert "refused this token for good on" in notice
    assert local(NOW - timedelta(hours=2), personas) in notice
    assert "<code>Unregistered</code>" in notice
    assert "not pushed to until the app registers a token again" in notice
    assert '<span class="muted small channel-answer">pruned: Unregistered</span>' in text


def test_the_device_page_says_a_device_of_an_unconfigured_service_gets_the_builtin_channel(
    ios_app, client, personas
):
    pruned = pruned_device(ios_app)
    plain = add_device(ios_app, "on-apns", channel="apns", channel_token=APNS_TOKEN)
    client.force_login(personas.owner)

    pruned_page = client.get(f"/a/{personas.org.pk}/push/devices/{pruned.pk}/").content.decode()
    plain_page = client.get(f"/a/{personas.org.pk}/push/devices/{plain.pk}/").content.decode()

    notice = " ".join(pruned_page.split('id="token-pruned"')[1].split("</p>")[0].split())
    assert "reached over the built-in channel meanwhile" in notice
    assert "not pushed to until" not in notice
    assert 'id="over-builtin"' in plain_page and 'id="token-pruned"' not in plain_page

"""The accounts and push screens of Django admin in the reader's language: a staff user who chose
Simplified Chinese finds no English label on any changelist, change or add page of them (column
headings, field labels, filters, inline headings, the models' names); one who chose English
sees the English labels. (The SMS review screens: ``tests/sms/test_admin_language.py``.)"""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.audit import AuditEvent
from accounts.invitations import Invitation
from accounts.models import ApiKeyPair
from accounts.preferences import Preference
from push.models import Delivery, SweepRun
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push
from tests.sms.conftest import authorize

APPS = ("accounts", "push")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Labels that are names, the same in every language (keys, products, protocols).
NAMES = {"SecretId", "SecretKey", "AccessID", "AccessKey", "ID", "Token", "SdkAppId"}
# Django's own headings for screen readers, which its catalogue leaves in English.
DJANGOS = {"Model name", "Add link", "Change or view list link"}


def models_of(apps=APPS):
    return sorted(
        (m for m in admin.site._registry if m._meta.app_label in apps),
        key=lambda m: m._meta.label,
    )


def labels(response) -> list[str]:
    """What names a column, a field, a filter, an inline or the page: column headings, field
    labels, filter and inline headings, the title."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    # The sidebar lists every app, third-party ones too (axes, django-q): this app's own
    # index page is walked on its own.
    html = re.sub(r'<nav class="sticky" id="nav-sidebar"[^>]*>.*?</nav>', " ", html, flags=re.S)
    # A change page's heading under the title is the object itself (its data).
    html = re.sub(r"(</h1>\s*)<h2>.*?</h2>", r"\1", html, count=1, flags=re.S)
    found = []
    patterns = [
        r'<th scope="col"[^>]*>(.*?)</th>',  # changelist columns
        r"<label\b[^>]*>(.*?)</label>",  # fields, read-only ones too
        r"<h3>(.*?)</h3>",  # filters ("By …")
        r"<h2\b[^>]*>(.*?)</h2>",  # inlines, fieldsets
        r"<h1\b[^>]*>(.*?)</h1>",
        r"<caption\b[^>]*>(.*?)</caption>",  # the app index's models
        r'<th scope="row"[^>]*>(.*?)</th>',
    ]
    for pattern in patterns:
        for match in re.findall(pattern, html, flags=re.S):
            text = " ".join(unescape(re.sub(r"<[^>]+>", " ", match)).split()).strip(" :：")
            text = re.sub(r"^\d+ ", "", text)  # a sorted column's rank
            if text:
                found.append(text)
    return found


def english(found: list[str], data=()) -> list[str]:
    """The labels with a Latin word and no Chinese (names, and the objects' own data, allowed)."""
    allowed = NAMES | DJANGOS | set(data)
    return sorted(
        {
            text
            for text in found
            if not CJK.search(text) and re.search(r"[A-Za-z]{2}", text) and text not in allowed
        }
    )


@pytest.fixture
def world(personas, app, sms, superuser):
    """One of everything the accounts and push admins list."""
    ApiKeyPair.objects.issue(personas.owner)
    authorize(personas.org)
    Invitation.objects.create(
        account=personas.org,
        email="nina@example.com",
        role="operator",
        token_hash="x" * 64,
        invited_by=personas.owner,
        expires_at=timezone.now() + timedelta(days=7),
    )
    AuditEvent.objects.create(
        account=personas.org, actor=personas.owner, actor_name="olivia", action="member_added"
    )
    add_device(app, "tok-a", tags=["vip"], phone="+8613711112222")
    push = sms_push(app, ["tok-a"])
    from push import fallback

    fallback.sweep(due(push))
    SweepRun.objects.create(name="fallback", finished_at=timezone.now(), result={})
    return {m: m._default_manager.first() for m in models_of()}


@pytest.fixture
def chinese_staff(client, superuser):
    Preference.choose(superuser, "zh-hans")
    client.force_login(superuser)
    return client


def pages(world):
    for model, obj in world.items():
        opts = model._meta
        yield reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        if obj is not None:
            yield reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        yield reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    for app in APPS:
        yield reverse("admin:app_list", args=[app])


def test_every_model_has_an_object_to_show(world):
    assert [m._meta.label for m, obj in world.items() if obj is None] == []


def test_a_chinese_staff_user_finds_no_english_label_in_the_accounts_and_push_admin(
    world, chinese_staff
):
    left = {}
    for path in pages(world):
        response = chinese_staff.get(path)
        if response.status_code == 403:  # no adding here: created in the console
            continue
        assert response.status_code == 200, path
        if found := english(labels(response), data=[str(obj) for obj in world.values()]):
            left[path] = found

    assert left == {}


def test_the_labels_are_translated_not_dropped(world, chinese_staff):
    page = chinese_staff.get(reverse("admin:push_delivery_changelist"))

    found = labels(page)
    assert "短信补发结果" in found and "到达时间" in found  # outcome, arrived at
    assert "投递" in " ".join(found)  # the model's name, in the title


def test_an_english_staff_user_sees_the_english_labels(world, client, superuser):
    client.force_login(superuser)
    delivery = Delivery.objects.first()

    found = labels(client.get(reverse("admin:push_delivery_change", args=[delivery.pk])))
    members = labels(client.get(reverse("admin:accounts_membership_changelist")))

    assert "Arrived at" in found and "Outcome detail" in found
    assert "Role" in members and not CJK.search(" ".join(members))


def test_the_checker_finds_an_english_label():
    assert english(["Created at", "创建时间", "SecretKey", "ID", "Acme"], data=["Acme"]) == [
        "Created at"
    ]

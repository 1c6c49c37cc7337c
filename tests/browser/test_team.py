"""The team invite in a real browser (headless Chromium), in English and in Chinese: the owner
invites, the e-mail's link is opened, the invitee sets a password and lands in the console
with the role. Every page of the Team area is saved at 1440 and 390 px wide, in
test-output/screenshots/ (``team-*-1440.png``, ``team-*-390.png``)."""

import re

import pytest
from django.core import mail
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.models import Membership, Role
from tests.browser.conftest import (
    choose_language,
    screenshots,
    wait_lang,
    wait_text,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"https?://[^/\s]+(/invitations/[A-Za-z0-9_-]+/)")
NEW_PASSWORD = "a long new password 42"


def invite(page, personas, email, role):
    d = page.go(f"/a/{personas.org.pk}/team/")
    d.find_element(By.ID, "id_email").send_keys(email)
    Select(d.find_element(By.ID, "id_role")).select_by_value(role)
    d.find_element(By.CSS_SELECTOR, "#invite button[type=submit]").click()
    WebDriverWait(d, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda d: email in d.find_element(By.ID, "invitations").text
    )
    [message] = [m for m in mail.outbox if m.to == [email]]
    return LINK.search(message.body).group(1)


def accept_as_new_user(page, path):
    d = page.go(path)
    assert d.find_element(By.ID, "id_username").get_attribute("value")  # the e-mail address
    d.find_element(By.ID, "id_password1").send_keys(NEW_PASSWORD)
    d.find_element(By.ID, "id_password2").send_keys(NEW_PASSWORD)
    d.find_element(By.CSS_SELECTOR, "#invitation button[type=submit]").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "form.logout")))
    return d


def test_an_owner_invites_and_the_invitee_sets_a_password_and_lands_in_the_console(page, personas):
    page.login("olivia", PASSWORD)
    screenshots(page.go(f"/a/{personas.org.pk}/team/"), "team-members")

    path = invite(page, personas, "nina@example.com", "admin")
    wait_text(page.driver, "Invitation sent to nina@example.com")
    screenshots(page.driver, "team-invited")

    page.driver.delete_all_cookies()  # the invitee, in another browser
    d = page.go(path)
    wait_text(d, "Join Acme")
    assert "olivia invited nina@example.com to join as Admin" in page.text()
    screenshots(d, "team-invitation")
    accept_as_new_user(page, path)

    wait_text(d, "Welcome to Acme: you joined as Admin.")
    assert d.current_url.endswith(f"/a/{personas.org.pk}/")
    nina = Membership.objects.get(account=personas.org, user__email="nina@example.com")
    assert nina.role == Role.ADMIN and nina.user.check_password(NEW_PASSWORD)

    # The link is used up: opening it again says so.
    page.go(path)
    wait_text(d, "This invitation was already used")
    screenshots(d, "team-invitation-used")

    # The new admin sees the team and its trail.
    page.go(f"/a/{personas.org.pk}/audit/")
    wait_text(d, "Invitation accepted")
    assert "Invitation sent" in page.text()
    screenshots(d, "team-audit")


def test_the_other_team_pages(page, personas):
    """The owner's account settings, a removal's confirmation and the ownership transfer."""
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/settings/")
    Select(d.find_element(By.ID, "id_time_zone")).select_by_value("Europe/Berlin")
    d.find_element(By.CSS_SELECTOR, "#settings button[type=submit]").click()
    wait_text(d, "Settings saved.")
    assert "Times in Europe/Berlin" in page.text()
    screenshots(d, "team-settings")

    max_ = Membership.objects.get(user=personas.member, account=personas.org)
    page.go(f"/a/{personas.org.pk}/team/members/{max_.pk}/remove")
    wait_text(d, "Remove max (Operator) from Acme?")
    screenshots(d, "team-remove")

    page.go(f"/a/{personas.org.pk}/team/transfer")
    wait_text(d, "has exactly one owner")
    screenshots(d, "team-transfer")

    d.delete_all_cookies()
    page.go("/invitations/not-a-real-token/")
    wait_text(d, "This invitation link is not valid")
    screenshots(d, "team-invitation-invalid")


def test_the_invite_in_chinese(page, personas):
    """The same flow with both people choosing 简体中文 with the header's language switch:
    the owner while logged in (her preference), the invitee before having a user (the
    language cookie), and the e-mail in the inviter's language."""
    page.login("olivia", PASSWORD)
    page.go(f"/a/{personas.org.pk}/team/")
    choose_language(page.driver, "zh-hans")
    wait_text(page.driver, "Acme 的团队")
    assert "邀请成员" in page.text() and "发送邀请" in page.text()
    path = invite(page, personas, "wei@example.com", "viewer")
    wait_text(page.driver, "已向 wei@example.com 发送邀请。")
    screenshots(page.driver, "team-members-zh")
    [message] = [m for m in mail.outbox if m.to == ["wei@example.com"]]
    assert "Acme" in message.subject and "查看者" in message.body

    page.driver.delete_all_cookies()
    d = page.go(path)
    wait_lang(d, "en")  # a new visitor, whose browser asks for English
    choose_language(d, "zh-hans")  # the invitee's own choice, before logging in
    wait_text(d, "加入 Acme")
    assert "创建用户并加入" in page.text()
    screenshots(d, "team-invitation-zh")
    accept_as_new_user(page, path)

    wait_text(d, "欢迎加入 Acme：您的角色是查看者。")
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    assert d.current_url.endswith(f"/a/{personas.org.pk}/")
    wei = Membership.objects.get(account=personas.org, user__email="wei@example.com")
    assert wei.role == Role.VIEWER

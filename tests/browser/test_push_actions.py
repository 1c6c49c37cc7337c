"""Push actions in a real browser (headless Chromium), in English and in Chinese: an ``all``
push is composed, its confirmation shows the audience size and the most its SMS can cost, and
only the confirmation sends it; a scheduled push is canceled after a confirmation. Each page is
saved at 1440 and 390 px wide in test-output/screenshots/ (``push-*-1440.png``,
``push-*-390.png``)."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from push import fanout
from push.models import Push
from tests.browser.conftest import (
    choose_language,
    screenshots,
    wait_for,
    wait_lang,
    wait_text,
)
from tests.conftest import PASSWORD
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)


def said(message: str, lang: str) -> str:
    """``message`` as the console says it in ``lang`` (the catalogue's translation)."""
    with translation.override(lang):
        return gettext(message)


@pytest.fixture
def audience(app, sms):
    """Three devices: two bound to phone numbers (so an SMS can go to two numbers at most)."""
    add_device(app, "tok-a", phone="+8613711110001")
    add_device(app, "tok-b", phone="+8613711110002")
    add_device(app, "tok-c")
    return app


def compose_all_push(page, personas, lang, suffix):
    d = page.go(f"/a/{personas.org.pk}/push/pushes/new/")
    if lang != "en":
        choose_language(d, lang)
    Select(d.find_element(By.ID, "id_audience_type")).select_by_value("all")
    d.find_element(By.ID, "id_title").send_keys("季度结算")
    d.find_element(By.ID, "id_content").send_keys("请在周五前提交报销单")
    d.find_element(By.ID, "id_resend_by_sms").click()
    Select(d.find_element(By.ID, "id_sms_template_id")).select_by_value("449739")
    d.find_element(By.ID, "id_sms_template_params").send_keys("报销单 42\n周五")
    screenshots(d, f"push-compose{suffix}")
    d.find_element(By.ID, "send-push").click()
    return d


def confirm_and_land(d, lang, suffix):
    wait_for(d, "push-confirm")
    wait_text(d, said("Confirm the push", lang))
    assert d.find_element(By.ID, "confirm-devices").text == "3"
    assert d.find_element(By.ID, "confirm-max-sms").text == "2"
    assert "2" in d.find_element(By.ID, "confirm-max-fee").text
    assert not Push.objects.exists()  # nothing is sent before the confirmation
    screenshots(d, f"push-confirm{suffix}")
    d.find_element(By.ID, "confirm-push").click()
    wait_for(d, "push-actions")
    push = Push.objects.get()
    assert (push.audience_type, push.title, push.resend_by_sms) == ("all", "季度结算", True)
    assert d.current_url.endswith(f"/pushes/{push.pk}/")
    screenshots(d, f"push-accepted{suffix}")
    return push


def test_an_all_push_is_sent_after_its_confirmation(page, personas, audience):
    page.login("max", PASSWORD)
    d = compose_all_push(page, personas, "en", "")

    push = confirm_and_land(d, "en", "")

    assert f"Push {push.pk} accepted" in page.text()


def test_an_all_push_is_sent_after_its_confirmation_in_chinese(page, personas, audience):
    page.login("max", PASSWORD)
    d = compose_all_push(page, personas, "zh-hans", "-zh")
    wait_lang(d, "zh-hans")  # the confirmation page, once the composer's has gone

    push = confirm_and_land(d, "zh-hans", "-zh")

    assert f"推送 {push.pk} 已受理" in page.text()


def cancel_scheduled(page, personas, app, lang, suffix):
    push = fanout.accept(
        Push(
            application=app,
            audience_type="all",
            message_type="notify",
            title="周五提醒",
            content="报销截止",
            send_at=timezone.now() + timedelta(days=1),
        )
    )
    d = page.go(f"/a/{personas.org.pk}/push/pushes/{push.pk}/")
    if lang != "en":
        choose_language(d, lang)
    screenshots(d, f"push-scheduled{suffix}")
    d.find_element(By.ID, "cancel-push").click()
    wait_for(d, "confirm-halt")
    wait_text(d, said("Cancel a scheduled push", lang))
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT  # asking is not canceling
    screenshots(d, f"push-cancel{suffix}")
    d.find_element(By.ID, "confirm-halt-button").click()
    wait_text(d, said("Canceled", lang))
    push.refresh_from_db()
    assert push.status == Push.Status.CANCELED and push.stopped_at is not None
    assert not d.find_elements(By.ID, "cancel-push")
    screenshots(d, f"push-canceled{suffix}")
    return push


def test_canceling_a_scheduled_push(page, personas, app):
    page.login("max", PASSWORD)

    push = cancel_scheduled(page, personas, app, "en", "")

    assert f"Push {push.pk} canceled: it will not be sent." in page.text()


def test_canceling_a_scheduled_push_in_chinese(page, personas, app):
    page.login("max", PASSWORD)

    cancel_scheduled(page, personas, app, "zh-hans", "-zh")

    assert "已取消" in page.text()

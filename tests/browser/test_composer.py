"""The composer's options in a real browser (headless Chromium), in English and in Chinese: a
push with custom key/values (one row added in the page), a URL click action, a badge and a
sound, to a token list that names an unknown token; the composer explains the unknown token
and its offer to ignore it sends the push to the rest. Each page is saved at 1440 and 390 px
wide in test-output/screenshots/ (``composer-*-1440.png``, ``composer-*-390.png``)."""

import json

import pytest
from django.utils import translation
from django.utils.translation import gettext
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from push.models import Push
from tests.browser.conftest import choose_language, screenshots, wait_for, wait_lang, wait_text
from tests.conftest import PASSWORD
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)


def said(message: str, lang: str) -> str:
    with translation.override(lang):
        return gettext(message)


@pytest.fixture
def devices(app):
    return [add_device(app, "tok-a"), add_device(app, "tok-b")]


def open_section(d, section_id):
    d.find_element(By.CSS_SELECTOR, f"#{section_id} > summary").click()


def type_into(d, element_id, value):
    field = d.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def compose_with_options(page, personas, lang, suffix):
    d = page.go(f"/a/{personas.org.pk}/push/pushes/new/")
    if lang != "en":
        choose_language(d, lang)
    # The simple push stays simple: every option is folded away at first.
    assert not d.find_element(By.ID, "id_click_url").is_displayed()
    screenshots(d, f"composer-simple{suffix}")
    type_into(d, "id_tokens", "tok-a\nnobody\ntok-b")
    type_into(d, "id_title", "订单已发货")
    type_into(d, "id_content", "订单 42 正在路上")

    open_section(d, "options-custom")
    type_into(d, "id_custom_key_0", "order")
    type_into(d, "id_custom_value_0", "42")
    d.find_element(By.ID, "add-custom-row").click()
    type_into(d, "id_custom_key_2", "screen")
    type_into(d, "id_custom_value_2", "detail")

    open_section(d, "options-click")
    assert not d.find_element(By.ID, "id_click_url").is_displayed()
    Select(d.find_element(By.ID, "id_click_action")).select_by_value("url")
    type_into(d, "id_click_url", "https://shop.example.com/orders/42")

    open_section(d, "options-badge")
    Select(d.find_element(By.ID, "id_badge")).select_by_value("set")
    type_into(d, "id_badge_number", "7")
    Select(d.find_element(By.ID, "id_sound")).select_by_value("named")
    type_into(d, "id_sound_name", "ding")
    # An Android app: the iOS options are not offered.
    assert not d.find_element(By.ID, "options-ios").is_displayed()
    screenshots(d, f"composer-options{suffix}")
    d.find_element(By.ID, "send-push").click()
    return d


def accept_the_offer(d, lang, suffix):
    offer = wait_for(d, "ignore-offer")
    wait_lang(d, lang)
    assert "nobody" in d.find_element(By.CSS_SELECTOR, "[data-audience=token_list] .error").text
    assert not Push.objects.exists()
    # What was typed is still there, options included.
    assert d.find_element(By.ID, "id_click_url").get_attribute("value").endswith("/orders/42")
    assert d.find_element(By.ID, "id_custom_key_2").get_attribute("value") == "screen"
    screenshots(d, f"composer-unknown-token{suffix}")
    offer.find_element(By.TAG_NAME, "input").click()
    wait_for(d, "push-actions")
    push = Push.objects.get()
    android = push.message["android"]
    assert json.loads(android["custom_content"]) == {"order": "42", "screen": "detail"}
    assert android["action"] == {
        "action_type": 2,
        "browser": {"url": "https://shop.example.com/orders/42"},
    }
    assert (android["badge_type"], android["ring_raw"]) == (7, "ding")
    assert (push.targets, push.invalid_targets) == (2, ["nobody"])
    options = d.find_element(By.ID, "message-options").text
    assert "order = 42; screen = detail" in options
    assert "https://shop.example.com/orders/42" in options
    wait_text(d, said("a sound of the app", lang))
    screenshots(d, f"composer-accepted{suffix}")
    return push


def test_a_push_with_options_and_an_unknown_token(page, personas, devices):
    page.login("max", PASSWORD)
    d = compose_with_options(page, personas, "en", "")

    push = accept_the_offer(d, "en", "")

    assert f"Push {push.pk} accepted" in page.text()
    assert "1 unknown token was skipped" in page.text()


def test_a_push_with_options_and_an_unknown_token_in_chinese(page, personas, devices):
    page.login("max", PASSWORD)
    d = compose_with_options(page, personas, "zh-hans", "-zh")

    push = accept_the_offer(d, "zh-hans", "-zh")

    assert f"推送 {push.pk} 已受理" in page.text()


# The phone makers' options, the notification style and quiet hours -------------------------


def compose_channel_options(page, personas, lang, suffix):
    d = page.go(f"/a/{personas.org.pk}/push/pushes/new/")
    if lang != "en":
        choose_language(d, lang)
    for section in ("options-vendors", "options-style", "options-quiet"):
        assert d.find_element(By.ID, section).get_attribute("open") is None, section
    Select(d.find_element(By.ID, "id_audience_type")).select_by_value("all")
    type_into(d, "id_title", "今日特价")
    type_into(d, "id_content", "只限今天")

    open_section(d, "options-vendors")
    Select(d.find_element(By.ID, "id_hw_importance")).select_by_value("2")
    Select(d.find_element(By.ID, "id_oppo_category")).select_by_value("ORDER")
    Select(d.find_element(By.ID, "id_oppo_notify_level")).select_by_value("16")
    Select(d.find_element(By.ID, "id_vivo_category")).select_by_value("IM")
    open_section(d, "options-style")
    Select(d.find_element(By.ID, "id_clearable")).select_by_value("0")
    type_into(d, "id_small_icon", "ic_stat")
    type_into(d, "id_builder_id", "2")
    open_section(d, "options-quiet")
    type_into(d, "id_accept_time", "08:00-22:00")
    screenshots(d, f"composer-channel-options{suffix}")
    d.find_element(By.ID, "send-push").click()

    wait_for(d, "push-confirm")
    wait_lang(d, lang)
    confirmation = d.find_element(By.ID, "push-confirm").text
    assert said("Show only between", lang) in confirmation and "08:00-22:00" in confirmation
    assert said("service and communication (NORMAL)", lang) in confirmation
    screenshots(d, f"composer-channel-confirm{suffix}")
    d.find_element(By.ID, "confirm-push").click()
    wait_for(d, "push-actions")
    push = Push.objects.get()
    assert push.message["accept_time"] == [
        {"start": {"hour": "08", "min": "00"}, "end": {"hour": "22", "min": "00"}}
    ]
    android = push.message["android"]
    assert (android["hw_importance"], android["oppo_category"], android["oppo_notify_level"]) == (
        2,
        "ORDER",
        16,
    )
    assert (android["vivo_category"], android["clearable"], android["small_icon"]) == (
        "IM",
        0,
        "ic_stat",
    )
    assert said("OPPO notify level", lang) in d.find_element(By.ID, "message-options").text
    screenshots(d, f"composer-channel-accepted{suffix}")


def test_vendor_style_and_quiet_hour_options(page, personas, devices):
    page.login("max", PASSWORD)
    compose_channel_options(page, personas, "en", "")


def test_vendor_style_and_quiet_hour_options_in_chinese(page, personas, devices):
    page.login("max", PASSWORD)
    compose_channel_options(page, personas, "zh-hans", "-zh")

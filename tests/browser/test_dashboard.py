"""The dashboard in a real browser (headless Chromium), in English and in Chinese: its cards open
the lists behind them with the same filters, its rates say what they are of, its charts fill
their cards at 1440 and 390 px (measured), and an empty account's charts keep a 0..1 axis and
say there is no data yet. Saved as ``dashboard*-1440.png`` / ``dashboard*-390.png`` in
test-output/screenshots/."""

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from selenium.webdriver.common.by import By

from tests.browser.conftest import SCREENSHOTS, _wait, choose_language, screenshots, wait_text
from tests.conftest import PASSWORD
from tests.test_dashboard import devices, push_at, sms_at

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = [("en", ""), ("zh-hans", "-zh")]
CHARTS = ("chart-series", "chart-funnel", "chart-hours")

# Per chart: the canvas's width, its card's width inside the padding, the card's width.
MEASURE = """
return Array.from(document.querySelectorAll('.chart-box canvas')).map(function (c) {
  var card = c.closest('.card'), s = getComputedStyle(card);
  var inner = card.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return [c.id, c.getBoundingClientRect().width, inner, card.getBoundingClientRect().width];
});
"""


def said(message: str, lang: str, **values) -> str:
    """``message`` as the console says it in ``lang`` (the catalogue's translation)."""
    with translation.override(lang):
        return gettext(message) % values if values else gettext(message)


def content(d, element_id):
    return d.find_element(By.ID, element_id).get_attribute("textContent")


def charts_drawn(d):
    script = (
        "return window.Chart && arguments[0].every(function (id) { return Chart.getChart(id); });"
    )
    _wait(d, lambda d: d.execute_script(script, list(CHARTS)))


def at_width(d, width):
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )


def assert_charts_fill_their_cards(d):
    for width in (1440, 390):
        at_width(d, width)
        try:
            # Chart.js follows its box on resize (a ResizeObserver): wait until it has.
            _wait(
                d,
                lambda d: all(abs(c - inner) <= 1 for _, c, inner, _ in d.execute_script(MEASURE)),
            )
        except Exception:
            pytest.fail(
                f"at {width} px the charts do not fill their cards: {d.execute_script(MEASURE)}"
            )
        for chart, canvas, _inner, card in d.execute_script(MEASURE):
            assert card <= width, (width, chart, card)
            assert canvas >= (300 if width == 390 else 400), (width, chart, canvas)
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_the_cards_open_their_lists_and_the_charts_fill_their_cards(
    page, personas, app, lang, suffix
):
    now = timezone.now()
    push_at(app, now, devices(app, 4), arrived=2, clicked=1, sms=4, title="armed push")
    push_at(app, now, devices(app, 1, "p"), title="plain push")
    sms_at(personas.org, now, state="failed", number="+8613700000022")
    sms_at(personas.org, now, state="delivered", number="+8613700000011")
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/?period=7")
    if lang != "en":
        choose_language(d, lang)
        wait_text(d, "今天")  # the period tabs: the page is in Chinese

    arrival = content(d, "card-arrival-rate")  # (labels are shown upper-case: not .text)
    assert said("Arrived of targeted", lang) in arrival
    assert "40.0 %" in arrival and "2 / 5" in arrival
    assert d.find_element(By.ID, "card-arrival-rate").get_attribute("title") == said(
        "%(part)s arrived of %(whole)s targeted", lang, part="2", whole="5"
    )
    click = content(d, "card-click-rate")
    assert said("Clicked of arrived", lang) in click and "50.0 %" in click and "1 / 2" in click
    assert said("Armed for SMS", lang) in content(d, "card-sms-armed")
    charts_drawn(d)
    assert_charts_fill_their_cards(d)
    screenshots(d, f"dashboard{suffix}")

    d.find_element(By.ID, "card-sms-failed").click()
    _wait(d, lambda d: "state=failed" in d.current_url)
    listed = d.find_element(By.TAG_NAME, "main").text
    assert "0022" in listed and "0011" not in listed  # (numbers may be shown masked)
    d.back()
    d.find_element(By.ID, "card-sms-armed").click()
    _wait(d, lambda d: "sms=yes" in d.current_url)
    listed = d.find_element(By.TAG_NAME, "main").text
    assert "armed push" in listed and "plain push" not in listed
    d.back()
    d.find_element(By.ID, "card-pushes").click()
    _wait(d, lambda d: "/push/pushes/?since=" in d.current_url)
    listed = d.find_element(By.TAG_NAME, "main").text
    assert "armed push" in listed and "plain push" in listed


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_an_empty_accounts_charts_keep_an_axis_and_say_there_is_no_data(
    page, personas, lang, suffix
):
    page.login("ivan", PASSWORD)
    d = page.go(f"/a/{personas.individual.pk}/?period=30")
    if lang != "en":
        choose_language(d, lang)
    charts_drawn(d)

    wait_text(d, said("No data yet in this period.", lang))
    scales = d.execute_script(
        "return ['chart-series', 'chart-hours'].map(function (id) {"
        " var y = Chart.getChart(id).scales.y; return [y.min, y.max]; })"
    )
    assert scales == [[0, 1], [0, 1]]
    funnel = d.execute_script(
        "var x = Chart.getChart('chart-funnel').scales.x; return [x.min, x.max];"
    )
    assert funnel == [0, 1]
    text = d.find_element(By.TAG_NAME, "main").text
    assert "NaN" not in text and "None" not in text and "—" in text
    assert_charts_fill_their_cards(d)
    screenshots(d, f"dashboard-empty{suffix}")
    assert (SCREENSHOTS / f"dashboard-empty{suffix}-390.png").exists()


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_the_breakdown_covers_the_chosen_period(page, personas, app, lang, suffix):
    from datetime import timedelta

    from push import rollup
    from push.models import Application

    ios, _secret = Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    push_at(app, yesterday, devices(app, 3, "y"), arrived=2)
    push_at(ios, yesterday, devices(ios, 4, "i"), arrived=4, channel="apns")
    rollup.refresh(now=yesterday + timedelta(minutes=1))
    push_at(app, now, devices(app, 2, "t"), arrived=1, channel="fcm")
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/?period=7")
    if lang != "en":
        choose_language(d, lang)
        wait_text(d, "今天")

    apps = d.find_element(By.ID, "breakdown-apps")
    week = said("7 days", lang)
    assert apps.find_element(By.TAG_NAME, "h2").text == said(
        "%(period)s by application", lang, period=week
    )
    rows = [r.text for r in apps.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert rows == ["Acme Android 5 5 3 0 0 0", "Acme iOS 4 4 4 0 0 0"]
    channels = d.find_element(By.ID, "breakdown-channels")
    assert channels.find_element(By.TAG_NAME, "h2").text == said(
        "%(period)s by channel", lang, period=week
    )
    assert [r.text.split()[-6] for r in channels.find_elements(By.CSS_SELECTOR, "tbody tr")] == [
        "3",
        "4",
        "2",
    ]  # fmt: skip  (built-in, APNs, FCM: the targeted column)
    screenshots(d, f"dashboard-breakdown{suffix}")
    d = page.go(f"/a/{personas.org.pk}/?period=today")
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#breakdown-apps tbody tr")]
    assert rows == ["Acme Android 2 2 1 0 0 0"]

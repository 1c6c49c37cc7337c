"""The console's layout and accessibility in a real browser (headless Chromium), on every page,
in English and in Chinese:

- at 1440 px the navigation is one line (every item at the same height, nothing scrolled out of
  it) and marks the page being shown (``aria-current="page"``);
- at 390 px (a phone) no page scrolls sideways: tables scroll inside their own box;
- a skip link is the first thing the keyboard reaches and moves focus to the page's content;
  focus is visible; body text, links, buttons and every status pill are at WCAG AA contrast
  (4.5:1) against what is behind them; the favicon answers.

Every page is saved at both widths in both languages as
test-output/screenshots/layout-<page>-<language>-<width>.png.
"""

from datetime import timedelta
from urllib.request import urlopen

import pytest
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from push import fallback, fanout
from push.models import Delivery, DeviceTag, Push, TagImport, TagImportLine
from sms import sending
from sms.models import OneOffSend, Template
from tests.browser.conftest import SCREENSHOTS, choose_language
from tests.conftest import PASSWORD
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)

WIDE, PHONE = 1440, 390
AA = 4.5
COMPACT = 160  # px: the header on a phone leaves the screen to the page


def at_width(driver, width, height=900):
    # Not "mobile": a phone browser zooms out of a page that is too wide, which would hide
    # exactly the sideways scroll this checks.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


@pytest.fixture
def widths(page):
    yield
    page.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def console(personas, sms, app):
    """Acme with something on every page: devices with numbers, a push with a supplementary SMS
    decided for one of its deliveries. Returns the console's pages as
    (name, path, URL name of the navigation link that is current there or None)."""
    for i in range(3):
        add_device(app, f"tok-{i}-" + "0123456789abcdef" * 1, phone=f"+861371111000{i}")
    push = fanout.accept(
        Push(
            application=app,
            audience_type="token_list",
            audience={"token_list": [d.token for d in app.devices.all()]},
            message_type="notify",
            title="Approval",
            resend_by_sms=True,
            sms_delay=300,
            sms_trigger=1,
            sms_app_id="1400006666",
            sms_template_id="449739",
            sms_params=["报销单 42", "明天"],
        )
    )
    fallback.sweep(timezone.now() + timedelta(seconds=301))
    delivery = Delivery.objects.filter(push=push).order_by("id").first()
    device = delivery.device
    # A one-off SMS sent from the console, and a template application waiting for review.
    one_off, _ = OneOffSend.send_once(
        sending.prepare(
            personas.org,
            sdk_app_id="1400006666",
            template_id="449739",
            params=["报销单 42", "明天"],
            numbers=["+8613711119999"],
        ),
        "layout",
        by=personas.owner,
    )
    record = one_off.messages().first()
    waiting = Template.objects.create(account=personas.org, name="Order", content="订单{1}已发货")
    # A tag, and a finished tag import with a line in its error report.
    DeviceTag.objects.create(device=device, application=app, tag="vip")
    tag_job = TagImport.objects.create(
        application=app,
        kind="token",
        action="add",
        tag="vip",
        name="tokens.csv",
        lines=3,
        done_lines=3,
        changed=2,
        bad_lines=1,
        state="done",
    )
    TagImportLine.objects.create(job=tag_job, line=2, value="a,b", problem="format")
    a = f"/a/{personas.org.pk}"
    return [
        ("overview", f"{a}/", f"{a}/"),
        ("sms-records", f"{a}/sms/records/", f"{a}/sms/records/"),
        ("sms-record", f"{a}/sms/records/{record.pk}/", f"{a}/sms/records/"),
        ("sms-send", f"{a}/sms/send/", f"{a}/sms/records/"),
        ("sms-send-result", f"{a}/sms/send/{one_off.pk}/", f"{a}/sms/records/"),
        ("sms-template", f"{a}/sms/templates/{waiting.pk}/", f"{a}/sms/templates/"),
        ("sms-template-edit", f"{a}/sms/templates/{waiting.pk}/edit/", f"{a}/sms/templates/"),
        ("sms-templates", f"{a}/sms/templates/", f"{a}/sms/templates/"),
        ("sms-signatures", f"{a}/sms/signatures/", f"{a}/sms/signatures/"),
        ("sms-applications", f"{a}/sms/applications/", f"{a}/sms/applications/"),
        ("sms-policy", f"{a}/sms/policy/", f"{a}/sms/policy/"),
        ("sms-packages", f"{a}/sms/packages/", f"{a}/sms/packages/"),
        ("sms-package-new", f"{a}/sms/packages/new/", f"{a}/sms/packages/"),
        ("push-applications", f"{a}/push/applications/", f"{a}/push/applications/"),
        ("push-application", f"{a}/push/applications/{app.pk}/", f"{a}/push/applications/"),
        (
            "push-application-edit",
            f"{a}/push/applications/{app.pk}/edit",
            f"{a}/push/applications/",
        ),
        (
            "push-application-delete",
            f"{a}/push/applications/{app.pk}/delete",
            f"{a}/push/applications/",
        ),
        ("push-devices", f"{a}/push/devices/", f"{a}/push/devices/"),
        ("push-device", f"{a}/push/devices/{device.pk}/", f"{a}/push/devices/"),
        ("push-tags", f"{a}/push/tags/", f"{a}/push/tags/"),
        ("push-tag-import-new", f"{a}/push/tags/imports/new", f"{a}/push/tags/"),
        ("push-tag-import", f"{a}/push/tags/imports/{tag_job.pk}/", f"{a}/push/tags/"),
        ("push-pushes", f"{a}/push/pushes/", f"{a}/push/pushes/"),
        ("push-push", f"{a}/push/pushes/{push.pk}/", f"{a}/push/pushes/"),
        (
            "push-delivery",
            f"{a}/push/pushes/{push.pk}/deliveries/{delivery.pk}/",
            f"{a}/push/pushes/",
        ),
        ("push-compose", f"{a}/push/pushes/new/", f"{a}/push/pushes/new/"),
        ("authorization", f"{a}/authorization/", f"{a}/authorization/"),
        ("team", f"{a}/team/", f"{a}/team/"),
        ("settings", f"{a}/settings/", f"{a}/team/"),
        ("audit", f"{a}/audit/", f"{a}/team/"),
        ("api-keys", "/keys/", "/keys/"),
    ]


def switch_language(page, code):
    choose_language(page.go("/keys/"), code)


NAV_LINES = """
const nav = document.querySelector('.main-nav');
const items = [...nav.querySelectorAll('a')];
return {
  tops: [...new Set(items.map(a => Math.round(a.getBoundingClientRect().top)))],
  hidden: nav.scrollWidth - nav.clientWidth,
  current: [...nav.querySelectorAll('a[aria-current=page]')].map(a => a.getAttribute('href')),
};
"""
SIDEWAYS = "return document.scrollingElement.scrollWidth - window.innerWidth;"
# What sticks out on the right, for the message: the outermost elements past the window's edge
# that are not inside a box that scrolls.
STICKING_OUT = """
const out = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.getBoundingClientRect().right <= window.innerWidth + 0.5) continue;
  let p = el.parentElement, clipped = false;
  for (; p; p = p.parentElement) {
    if (/(auto|scroll|hidden)/.test(getComputedStyle(p).overflowX)) { clipped = true; break; }
  }
  if (!clipped) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                         (el.className ? '.' + String(el.className).split(' ').join('.') : ''));
}
return out.slice(0, 5);
"""


def walk(page, pages, language):
    """Every page at both widths; returns what is wrong, page by page."""
    problems = []
    d = page.driver
    for name, path, current in pages:
        at_width(d, WIDE)
        page.go(path)
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert "Server Error" not in d.title and "Traceback" not in d.page_source, name
        nav = d.execute_script(NAV_LINES)
        if len(nav["tops"]) != 1:
            problems.append(f"{name} ({language}): the navigation takes {len(nav['tops'])} lines")
        if nav["hidden"] > 0:
            problems.append(f"{name} ({language}): {nav['hidden']}px of the navigation is cut off")
        if nav["current"] != [current]:
            problems.append(f"{name} ({language}): current link {nav['current']}, not {current}")
        shoot(d, f"layout-{name}-{language}-{WIDE}")
        at_width(d, PHONE)
        sideways = d.execute_script(SIDEWAYS)
        if sideways > 0:
            out = d.execute_script(STICKING_OUT)
            problems.append(
                f"{name} ({language}): scrolls {sideways}px sideways at {PHONE}px {out}"
            )
        header = d.execute_script("return document.querySelector('header').offsetHeight")
        if header > COMPACT:
            problems.append(f"{name} ({language}): the header is {header}px high at {PHONE}px")
        shoot(d, f"layout-{name}-{language}-{PHONE}")
    return problems


def shoot(driver, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    at_width(driver, width, min(max(height, 600), 6000))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    at_width(driver, width)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_fits_a_wide_screen_and_a_phone(page, personas, console, widths, language):
    page.login("olivia", PASSWORD)
    switch_language(page, language)

    assert walk(page, console, language) == []


def test_the_login_page_fits_a_phone(page, db, widths):
    at_width(page.driver, PHONE)
    page.go("/login/")

    assert page.driver.execute_script(SIDEWAYS) <= 0
    shoot(page.driver, f"layout-login-en-{PHONE}")


def test_the_skip_link_comes_first_and_moves_focus_to_the_content(page, personas, app):
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/push/devices/")
    d.execute_script("document.activeElement.blur(); window.focus();")

    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    first = d.switch_to.active_element
    assert "skip-link" in first.get_attribute("class")
    assert first.get_attribute("href").endswith("#main")
    assert first.is_displayed() and first.rect["height"] > 0  # shown once focused
    first.send_keys(Keys.ENTER)

    assert d.execute_script("return document.activeElement.id") == "main"


FOCUS_RING = """
const el = arguments[0];
const s = getComputedStyle(el);
return {outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
        shadow: s.boxShadow !== 'none', focusVisible: el.matches(':focus-visible')};
"""


def test_focus_is_visible_on_links_buttons_and_fields(page, personas, app):
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/push/devices/")
    keyboard = ActionChains(d)
    seen = set()
    for _ in range(60):  # the header, the navigation, then the filters' fields and button
        keyboard.send_keys(Keys.TAB).perform()
        el = d.switch_to.active_element
        if el.tag_name == "body":  # past the last one
            break
        ring = d.execute_script(FOCUS_RING, el)
        assert ring["focusVisible"], el.get_attribute("outerHTML")[:120]
        assert ring["outline"] or ring["shadow"], (
            f"no focus ring on {el.get_attribute('outerHTML')[:120]}"
        )
        seen.add(el.tag_name)

    assert {"a", "select", "input", "button"} <= seen


CONTRAST = """
function rgba(c) {
  const m = c.match(/[\\d.]+/g).map(Number);
  return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
}
function lum([r, g, b]) {
  const f = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function behind(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) return c;
  }
  return [255, 255, 255, 1];
}
function ratio(el) {
  const fg = rgba(getComputedStyle(el).color), bg = behind(el);
  const a = fg[3];  // a translucent text colour is blended over its background
  const mixed = [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a));
  const [hi, lo] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
const found = [];
function check(label, el) { found.push([label, Math.round(ratio(el) * 100) / 100]); }
// Every pill of the stylesheet: each rule naming .badge.<class>, drawn in a card.
const card = document.querySelector('main .card') || document.querySelector('main');
const classes = new Set();
for (const sheet of document.styleSheets) {
  for (const rule of sheet.cssRules) {
    const selector = rule.selectorText || '';
    for (const m of selector.matchAll(/\\.badge((?:\\.[\\w-]+)*)/g)) classes.add(m[1]);
  }
}
for (const cls of classes) {
  const pill = document.createElement('span');
  pill.className = 'badge ' + cls.split('.').join(' ');
  pill.textContent = 'pill';
  card.appendChild(pill);
  check('pill' + cls, pill);
}
check('body text', document.querySelector('main h1') || document.body);
for (const sel of ['main p', 'main td', 'main th', 'main .muted', 'main label', 'main a',
                   'main button', 'main a.button', 'main .badge', '.topbar a', '.topbar .who',
                   '.topbar button', '.nav-label', 'main .error', '.messages li', '.banner',
                   '.tabs a', '.pagination a', '.pagination [aria-current]']) {
  document.querySelectorAll(sel).forEach((el, i) => { if (i < 30) check(sel, el); });
}
return found;
"""


def test_text_links_buttons_and_status_pills_are_at_aa_contrast(page, personas, console):
    page.login("olivia", PASSWORD)
    low = []
    checked = 0
    for name, path, _ in console:
        page.go(path)
        for label, ratio in page.driver.execute_script(CONTRAST):
            checked += 1
            if ratio < AA:
                low.append(f"{name}: {label} {ratio}")

    assert checked > 100
    assert sorted(set(low)) == []


def test_the_favicon_is_linked_and_answers(page, personas, live_server):
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/")
    href = d.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")

    with urlopen(href) as response:  # noqa: S310 (the live server)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("image/")

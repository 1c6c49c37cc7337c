"""A real browser (headless Chromium driven by Selenium) against pytest-django's live server.

Chromium and its driver come from Debian's packages (`.ci/run` installs them). Screenshots of
the main pages go to test-output/screenshots/.
"""

import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",  # we run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(
        options=options,
        service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
    )
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live_server):
    """The browser with cookies cleared, plus helpers bound to the live server."""
    browser.delete_all_cookies()

    class Page:
        driver = browser
        url = live_server.url

        def go(self, path):
            browser.get(live_server.url + path)
            return browser

        def login(self, username, password):
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support import expected_conditions as EC
            from selenium.webdriver.support.ui import WebDriverWait

            self.go("/login/")
            browser.find_element(By.ID, "id_username").send_keys(username)
            browser.find_element(By.ID, "id_password").send_keys(password)
            browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
            WebDriverWait(browser, 10).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, "form.logout"))
            )

        def shot(self, name):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

        def text(self):
            return browser.find_element("tag name", "body").text

    return Page()


# Waiting and screenshots, shared by the flows' tests. Waits ignore a WebDriverException (a
# stale element while a page is being replaced), so they hold across navigations.
WIDTHS = (1440, 390)


def _wait(driver, condition, timeout=10):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(condition)


def wait_text(driver, text, timeout=10):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    _wait(driver, EC.text_to_be_present_in_element((By.TAG_NAME, "body"), text), timeout)


def wait_lang(driver, lang, timeout=10):
    from selenium.webdriver.common.by import By

    _wait(
        driver,
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang,
        timeout,
    )


def wait_for(driver, element_id, timeout=10):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    return _wait(driver, EC.presence_of_element_located((By.ID, element_id)), timeout)


def choose_language(driver, code):
    """The header's language switch, and the page it reloads in that language."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "language-select")).select_by_value(code)
    wait_lang(driver, code)


def screenshots(driver, name):
    """The whole page at each of WIDTHS, saved as ``<name>-<width>.png``; at 390 px (a phone)
    the page's own part must not scroll sideways (its tables scroll inside their box)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for width in WIDTHS:
            # Not "mobile": a phone browser zooms out of a page that is too wide, which would
            # hide exactly what the 390 px picture is for.
            metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            metrics["height"] = min(max(height, 600), 6000)
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            driver.save_screenshot(str(SCREENSHOTS / f"{name}-{width}.png"))
            if width == 390:
                overflow = driver.execute_script(
                    "const m = document.querySelector('main');return m.scrollWidth - m.clientWidth;"
                )
                assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

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

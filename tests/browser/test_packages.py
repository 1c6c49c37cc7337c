"""SMS packages in a real browser (headless Chromium), in English and in Chinese: the owner
records a purchased package from the packages page, a bad quantity is refused naming the
field, and the balance shows the new parts. The pages are saved at 1440 and 390 px wide
(test-output/screenshots/packages-*-1440.png, packages-*-390.png)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from sms import quota
from sms.models import Package
from tests.browser.conftest import choose_language, screenshots, wait_for, wait_text
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def fill(d, quantity, note, region="mainland"):
    Select(d.find_element(By.ID, "id_region")).select_by_value(region)
    field = d.find_element(By.ID, "id_quantity")
    field.clear()
    field.send_keys(quantity)
    d.find_element(By.ID, "id_note").send_keys(note)
    d.find_element(By.CSS_SELECTOR, "#package-form button[type=submit]").click()


def balance(d, region):
    return d.find_element(By.ID, f"balance-{region}").text


@pytest.fixture
def packages(sms):
    """Beside the fixture's 1,000 mainland parts: a global package ending in 12 days and one
    that ended."""
    now = timezone.now()
    Package.objects.create(
        account=sms.account,
        region="global",
        quantity=200,
        used=150,
        valid_from=now - timedelta(days=353),
        valid_until=now + timedelta(days=12, hours=2),
        note="2025 order",
    )
    Package.objects.create(
        account=sms.account,
        quantity=300,
        used=120,
        valid_from=now - timedelta(days=400),
        valid_until=now - timedelta(days=35),
    )
    return sms


def test_the_owner_records_a_package_and_sees_the_balance(page, personas, packages):
    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/sms/packages/")
    wait_text(d, "1,000 parts left of 1,000")
    assert "expires in 12 days" in page.text() and "Expired" in page.text()
    screenshots(d, "packages")

    d.find_element(By.ID, "record-package").click()
    wait_for(d, "package-form")
    assert "Asia/Shanghai" in page.text()
    fill(d, "0", "order A-1")
    wait_text(d, "Ensure this value is greater than or equal to 1.")
    assert Package.objects.filter(account=personas.org).count() == 3
    screenshots(d, "packages-new-error")

    key = d.find_element(By.ID, "id_request_key").get_attribute("value")
    fill(d, "5000", "")  # the note is kept from the refused post
    wait_text(d, "Recorded 5,000 Chinese mainland SMS parts.")
    assert "6,000 parts left of 6,000" in balance(d, "mainland")
    assert "order A-1" in page.text()
    assert quota.usage(personas.org, "mainland")["left"] == 6000
    screenshots(d, "packages-recorded")

    # The same form posted again (a second click, a resend): still one package.
    d.find_element(By.ID, "record-package").click()
    wait_for(d, "package-form")
    d.execute_script(f"document.getElementById('id_request_key').value = '{key}';")
    fill(d, "5000", "order A-1")
    wait_text(d, "This package was already recorded; nothing was added.")
    assert Package.objects.filter(account=personas.org, note="order A-1").count() == 1


def test_the_owner_records_a_package_in_chinese(page, personas, packages):
    page.login("olivia", PASSWORD)
    page.go(f"/a/{personas.org.pk}/sms/packages/")
    choose_language(page.driver, "zh-hans")
    d = page.driver
    wait_text(d, "短信套餐包")
    assert "12 天后到期" in page.text() and "即将到期" in page.text()
    assert "已过期" in page.text()
    screenshots(d, "packages-zh")

    d.find_element(By.ID, "record-package").click()
    wait_for(d, "package-form")
    wait_text(d, "登记已购套餐包")
    assert "有效期（月）" in page.text() and "备注或订单号" in page.text()
    screenshots(d, "packages-new-zh")
    fill(d, "800", "订单 B-7", region="global")

    wait_text(d, "已登记国际/港澳台短信")
    assert "850" in balance(d, "global")  # 50 left + 800
    assert Package.objects.get(account=personas.org, note="订单 B-7").quantity == 800
    screenshots(d, "packages-recorded-zh")

"""Staff work through the console in a real browser (headless Chromium).

Each scenario ends with a screenshot of the page it is about, in test-output/screenshots/.
"""

import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from push import fallback, fanout, rollup
from push.models import Delivery, Push
from sms.models import Template
from sms.review import REVIEWERS_GROUP
from tests.conftest import PASSWORD, make_user
from tests.fakes.tencentcloud import FakeTencentCloud
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)


def wait_text(driver, text, timeout=10):
    # While a click navigates, the <body> just found may belong to the page being left:
    # Chromium then answers "Node ... does not belong to the document" (a plain
    # WebDriverException, not a stale element). Look again until the text shows or time is up.
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        EC.text_to_be_present_in_element((By.TAG_NAME, "body"), text)
    )


def test_logging_in_shows_the_dashboard(page, personas):
    page.login("olivia", PASSWORD)

    wait_text(page.driver, "Acme")
    assert "PUSHES" in page.text().upper() and "SMS SENT" in page.text().upper()
    page.shot("dashboard")


# A key pair of the shape Tencent issues ("AKID" + 32, and 32 letters and digits).
BROWSER_ID, BROWSER_KEY = "AKIDbrowser" + "0" * 25, "browsersecretkey" + "0" * 16


def test_authorizing_tencent_cloud_keys(page, personas, settings):
    with FakeTencentCloud(credentials={BROWSER_ID: BROWSER_KEY}) as cloud:
        settings.TENCENTCLOUD_SMS_ENDPOINT = cloud.endpoint
        page.login("olivia", PASSWORD)
        d = page.go(f"/a/{personas.org.pk}/authorization/")
        d.find_element(By.ID, "id_secret_id").send_keys(BROWSER_ID)
        d.find_element(By.ID, "id_secret_key").send_keys(BROWSER_KEY)
        d.find_element(By.XPATH, "//button[text()='Save key pair']").click()
        wait_text(d, "Key pair saved")
        d.find_element(By.XPATH, "//button[text()='Confirm with Tencent Cloud']").click()
        wait_text(d, "Tencent Cloud accepted the key pair")

    assert BROWSER_KEY not in d.page_source
    assert "Confirmed" in page.text()
    page.shot("authorization")


def test_applying_for_a_template_and_approving_it_in_admin(page, personas):
    reviewer = make_user("rita", is_staff=True)
    reviewer.groups.add(Group.objects.get(name=REVIEWERS_GROUP))
    page.login("max", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/sms/templates/")
    d.find_element(By.ID, "id_name").send_keys("Payment")
    d.find_element(By.ID, "id_content").send_keys("您已付款{1}元，订单{2}")
    assert d.find_element(By.ID, "template-params").text == "2"  # live count as you type
    d.find_element(By.XPATH, "//button[text()='Submit for review']").click()
    wait_text(d, "submitted for review")
    template = Template.objects.get(name="Payment")

    d.delete_all_cookies()
    page.go("/admin/login/")
    d.find_element(By.ID, "id_username").send_keys("rita")
    d.find_element(By.ID, "id_password").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_text(d, "Site administration")
    page.go("/admin/sms/template/")
    d.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{template.pk}']").click()
    Select(d.find_element(By.NAME, "action")).select_by_value("approve_selected")
    d.find_element(By.NAME, "index").click()
    wait_text(d, "pproved")
    page.shot("admin-templates")

    template.refresh_from_db()
    assert template.status == "approved" and template.reviewed_by == reviewer
    page.go(f"/admin/sms/template/{template.pk}/change/")
    assert "Audit trail" in page.text() and "rita" in page.text()


def test_the_due_check_sends_sms_that_the_records_page_shows_filters_and_exports(
    page, personas, sms, app
):
    for i in range(3):
        add_device(app, f"tok-{i}", phone=f"+861371111000{i}")
    push = fanout.accept(
        Push(
            application=app,
            audience_type="token_list",
            audience={"token_list": ["tok-0", "tok-1", "tok-2"]},
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
    Delivery.objects.filter(push=push, device__token="tok-0").update(arrived_at=timezone.now())
    fallback.sweep(timezone.now() + timedelta(seconds=301))
    rollup.refresh()

    page.login("olivia", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/sms/records/")
    assert "2 SMS" in page.text()
    d.find_element(By.ID, "id_number").send_keys("13711110002")
    d.find_element(By.XPATH, "//button[text()='Filter']").click()
    wait_text(d, "1 SMS")
    assert "+86137****0002" in page.text()
    d.find_element(By.CSS_SELECTOR, "button.reveal").click()
    assert "+8613711110002" in page.text()
    d.find_element(By.ID, "export-csv").click()
    wait_text(d, "Exported 1 rows.")
    page.shot("sms-records")

    page.go(f"/a/{personas.org.pk}/push/pushes/{push.pk}/")
    assert "Supplementary SMS" in page.text()
    page.shot("push-page")
    page.go(f"/a/{personas.org.pk}/")
    page.shot("dashboard-with-figures")


def test_an_individual_account_cannot_edit_the_rate_limit_policy(page, personas):
    page.login("ivan", PASSWORD)
    d = page.go(f"/a/{personas.individual.pk}/sms/policy/")

    assert "Read-only for individual accounts" in page.text()
    assert not d.find_elements(By.ID, "id_daily_limit")
    page.shot("policy-individual")


def test_composing_a_push_shows_the_sms_preview_and_submits(page, personas, sms, app):
    from selenium.webdriver.support.ui import Select

    add_device(app, "tok-a", phone="+8613711110001")
    page.login("max", PASSWORD)
    d = page.go(f"/a/{personas.org.pk}/push/pushes/new/")
    d.find_element(By.ID, "id_tokens").send_keys("tok-a")
    d.find_element(By.ID, "id_title").send_keys("Approval")
    d.find_element(By.ID, "id_content").send_keys("Expense report 42 waits for you")
    d.find_element(By.ID, "id_resend_by_sms").click()
    Select(d.find_element(By.ID, "id_sms_template_id")).select_by_value("449739")
    d.find_element(By.ID, "id_sms_template_params").send_keys("报销单 42\n明天")

    preview = d.find_element(By.ID, "sms-preview-text").text
    assert preview == "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。"
    assert "1 part per SMS" in d.find_element(By.ID, "sms-preview-figures").text
    page.shot("composer")
    d.find_element(By.XPATH, "//button[text()='Push']").click()
    wait_text(d, "accepted")

    push = Push.objects.get()
    assert push.resend_by_sms and push.targets == 1
    page.shot("push-after-compose")


def test_simulated_devices_report_events_and_the_funnel_updates(page, personas, sms, app, tmp_path):
    from django.core.management import call_command

    common = [
        "--app", str(app.access_id), "--url", page.url, "--count", "4", "--phones",
        "--disabled", "0", "--state", str(tmp_path / "devices.json"), "--seed", "7",
    ]  # fmt: skip
    call_command("simulate_devices", *common, "--rounds", "0", stdout=open(os.devnull, "w"))  # noqa: SIM115
    push = fanout.accept(
        Push(application=app, audience_type="all", message_type="notify", title="Hello")
    )
    fanout.start(push.pk)
    page.login("olivia", PASSWORD)
    page.go(f"/a/{personas.org.pk}/push/pushes/{push.pk}/")
    arrived_before = page.driver.find_element(
        By.XPATH, "//section[@id='funnel']//tr[contains(@class,'step-arrived')]/td[@class='n']"
    ).text

    call_command(
        "simulate_devices", *common, "--rounds", "1", "--arrive", "1", "--click", "0.5",
        "--interval", "0", stdout=open(os.devnull, "w"),  # noqa: SIM115
    )  # fmt: skip
    page.driver.refresh()

    arrived = page.driver.find_element(
        By.XPATH, "//section[@id='funnel']//tr[contains(@class,'step-arrived')]/td[@class='n']"
    ).text
    assert (arrived_before, arrived) == ("0", "4")
    assert Delivery.objects.filter(push=push, arrived_at__isnull=False).count() == 4
    page.shot("push-funnel-after-events")

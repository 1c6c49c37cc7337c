"""The SMS console's everyday tasks in a real browser (headless Chromium), in English and in
Chinese: an operator sends a one-off SMS (preview with its cost, then send through the local
transport) and opens its record; withdraws a pending template and resubmits a rejected
signature. Pages are saved at 1440 and 390 px as test-output/screenshots/sms-*-<width>.png."""

import pytest
from django.core.files.base import ContentFile
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from sms import review
from sms.models import Package, ReviewStatus, Signature, SmsMessage, Template
from sms.transports import LOCAL_OUTBOX
from tests.browser.conftest import choose_language, screenshots, wait_for, wait_text
from tests.conftest import PASSWORD
from tests.sms.conftest import NUMBER, PNG

pytestmark = pytest.mark.django_db(transaction=True)

OTHER = "+8613711113333"
LANGUAGES = ["en", "zh-hans"]


def start(page, language):
    page.login("max", PASSWORD)  # the operator
    if language != "en":
        choose_language(page.go("/keys/"), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_operator_sends_a_one_off_sms_and_opens_its_record(page, personas, sms, language):
    start(page, language)
    d = page.go(f"/a/{personas.org.pk}/sms/templates/")
    d.find_element(By.ID, "send-one-off").click()
    wait_for(d, "send-form")
    d.find_element(By.ID, "id_param_1").send_keys("报销单 42")
    d.find_element(By.ID, "id_param_2").send_keys("明天")
    d.find_element(By.ID, "id_numbers").send_keys(f"{NUMBER}\n137 1111 3333")
    # The text fills in as one types.
    assert (
        d.find_element(By.ID, "live-preview").text
        == "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。"
    )
    screenshots(d, f"sms-send-form-{language}")

    d.find_element(By.ID, "preview-sms").click()
    wait_for(d, "send-quote")
    assert d.find_element(By.ID, "quote-text").text.startswith("【腾讯云】您有一条待审批")
    if language == "en":
        assert d.find_element(By.ID, "send-sms").text == "Send 2 SMS (2 parts)"
        wait_text(d, "This send costs 2 parts of the Chinese mainland balance of 1000.")
    assert not SmsMessage.objects.exists()  # a preview sends nothing
    screenshots(d, f"sms-send-preview-{language}")

    # A double click: the form goes twice, its one-time token once.
    d.execute_script("const b = document.getElementById('send-sms'); b.click(); b.click();")
    wait_for(d, "send-results")
    rows = d.find_elements(By.CSS_SELECTOR, "#send-results tbody tr")
    assert len(rows) == 2
    assert [m.numbers for m in LOCAL_OUTBOX] == [(NUMBER, OTHER)]
    assert Package.objects.get(pk=sms.package.pk).used == 2
    if language == "en":
        wait_text(d, "2 numbers · 2 parts charged")
    screenshots(d, f"sms-send-result-{language}")

    rows = d.find_elements(By.CSS_SELECTOR, "#send-results tbody tr a")
    rows[0].click()
    wait_text(d, "SerialNo")
    first = SmsMessage.objects.order_by("id").first()
    assert f"/sms/records/{first.pk}/" in d.current_url
    screenshots(d, f"sms-record-{language}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_operator_withdraws_a_pending_template_and_resubmits_a_rejected_signature(
    page, personas, reviewer, settings, tmp_path, language
):
    settings.MEDIA_ROOT = tmp_path
    template = Template.objects.create(account=personas.org, name="Order", content="订单{1}已发货")
    review.submit(template, by=personas.member)
    signature = Signature.objects.create(
        account=personas.org, text="Acme", proof_image=ContentFile(PNG, name="p.png")
    )
    review.submit(signature, by=personas.member)
    review.decide(signature, approve=False, by=reviewer, reason="Name the company in full.")
    start(page, language)

    d = page.go(f"/a/{personas.org.pk}/sms/templates/{template.pk}/")
    wait_for(d, "application-actions")
    screenshots(d, f"sms-template-pending-{language}")
    d.find_element(By.ID, "withdraw-application").click()
    WebDriverWait(d, 5).until(EC.alert_is_present())
    d.switch_to.alert.accept()
    WebDriverWait(d, 10).until(
        lambda d: Template.objects.get(pk=template.pk).status == ReviewStatus.WITHDRAWN
    )
    wait_text(d, "Order")
    if language == "en":
        wait_text(d, "withdrawn.")
        wait_text(d, "Withdrawn by the applicant")  # the audit trail
    screenshots(d, f"sms-template-withdrawn-{language}")

    d = page.go(f"/a/{personas.org.pk}/sms/signatures/{signature.pk}/")
    d.find_element(By.ID, "change-application").click()
    wait_for(d, "change-form")
    text = d.find_element(By.ID, "id_text")
    text.clear()
    text.send_keys("AcmeCorp")
    screenshots(d, f"sms-signature-resubmit-{language}")
    d.find_element(By.ID, "save-change").click()
    WebDriverWait(d, 10).until(
        lambda d: Signature.objects.get(pk=signature.pk).status == ReviewStatus.PENDING
    )
    wait_text(d, "AcmeCorp")
    if language == "en":
        wait_text(d, "resubmitted for review.")
        wait_text(d, "Name the company in full.")  # the rejection stays in the trail
    signature.refresh_from_db()
    assert signature.text == "AcmeCorp"
    actions = list(signature.decisions.values_list("action", flat=True))
    assert actions == ["submitted", "rejected", "resubmitted"]
    screenshots(d, f"sms-signature-resubmitted-{language}")

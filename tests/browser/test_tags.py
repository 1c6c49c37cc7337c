"""Tags in a real browser (headless Chromium), in English and in Chinese: an operator ticks
devices on the devices list and adds a tag, sees it counted on the tags page, imports a CSV with
a bad line, watches the progress bar move (polled from the progress endpoint while the task
applies the file chunk by chunk) up to 100 %, and reads the per-line error report. Each page is
saved at 1440 and 390 px wide in test-output/screenshots/ (``tags-*``)."""

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from push import tag_import
from push.models import DeviceTag, TagImport
from tests.browser.conftest import choose_language, screenshots, wait_for, wait_text
from tests.conftest import PASSWORD
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)


def said(message: str, lang: str) -> str:
    with translation.override(lang):
        return gettext(message)


def token(n: int) -> str:
    return f"{n:036d}"


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_an_operator_tags_devices_and_imports_a_csv_with_a_bad_line(
    page, personas, app, tmp_path, lang
):
    devices = [add_device(app, token(i)) for i in range(4)]
    suffix = "" if lang == "en" else f"-{lang}"
    page.login("max", PASSWORD)
    a = f"/a/{personas.org.pk}/push"

    # Tick two devices on the devices list and add a tag to them.
    d = page.go(f"{a}/devices/")
    if lang != "en":
        choose_language(d, lang)
    for device in devices[:2]:
        d.find_element(By.CSS_SELECTOR, f"input[name=device][value='{device.pk}']").click()
    Select(d.find_element(By.ID, "tagging-action")).select_by_value("add")
    d.find_element(By.ID, "tagging-tag").send_keys("vip")
    screenshots(d, f"tags-devices{suffix}")
    d.find_element(By.CSS_SELECTOR, "#device-tag-form button[type=submit]").click()
    with translation.override(lang):
        added = ngettext(
            "Tag “%(tag)s” added to %(n)s device.", "Tag “%(tag)s” added to %(n)s devices.", 2
        )
    wait_text(d, added % {"tag": "vip", "n": 2})
    assert set(DeviceTag.objects.filter(tag="vip").values_list("device_id", flat=True)) == {
        devices[0].pk,
        devices[1].pk,
    }

    # The tags page counts them, and links to the devices carrying the tag.
    d = page.go(f"{a}/tags/")
    wait_for(d, "tags")
    row = d.find_element(By.CSS_SELECTOR, "#tags tbody tr")
    assert "vip" in row.text and row.find_element(By.CSS_SELECTOR, "td.n a").text == "2"
    screenshots(d, f"tags-list{suffix}")

    # Import a CSV of tokens with a bad line.
    csv_path = tmp_path / "tokens.csv"
    csv_path.write_text("\n".join([token(0), token(1), "a,b", token(2), token(3)]) + "\n")
    d.find_element(By.ID, "import-tags").click()
    wait_for(d, "tag-import-form")
    Select(d.find_element(By.ID, "id_application")).select_by_value(str(app.pk))
    Select(d.find_element(By.ID, "id_kind")).select_by_value("token")
    Select(d.find_element(By.ID, "id_action")).select_by_value("add")
    d.find_element(By.ID, "id_tag").send_keys("imported")
    d.find_element(By.ID, "id_file").send_keys(str(csv_path))
    screenshots(d, f"tags-import-new{suffix}")
    d.find_element(By.CSS_SELECTOR, "#tag-import-form button[type=submit]").click()
    wait_for(d, "import-progress")
    job = TagImport.objects.get()
    assert d.find_element(By.ID, "import-percent").text == "0 %"

    # The task applies the first chunk: the page's poll shows it, then the rest.
    assert tag_import.claim(job.pk, timezone.now())
    tag_import.step(job.pk, chunk=2)
    wait_text(d, "40 %")
    screenshots(d, f"tags-import-progress{suffix}")
    while tag_import.step(job.pk, chunk=2).state == TagImport.State.RUNNING:
        pass
    wait_text(d, said("Done", lang))  # the finished page, reloaded by the poll
    assert d.find_element(By.ID, "import-percent").text == "100 %"
    assert d.find_element(By.ID, "import-progress").get_attribute("data-finished") == "1"
    report = d.find_element(By.ID, "import-errors").text
    assert "a,b" in report and said("bad format", lang) in report
    assert said("more than one column", lang) in report
    cells = d.find_elements(By.CSS_SELECTOR, "#import-errors tbody td")
    assert cells[0].text == "3"
    screenshots(d, f"tags-import-done{suffix}")
    assert DeviceTag.objects.filter(tag="imported").count() == 4

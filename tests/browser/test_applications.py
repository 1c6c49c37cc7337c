"""An application's life in a real browser (headless Chromium), in English and in Chinese: an
owner edits it, rotates its SecretKey (after the browser's confirmation; the new one is shown
once) and deletes it after a confirmation page that counts what goes with it and wants its name
typed. Each page is saved at 1440 and 390 px wide in test-output/screenshots/
(``application-*-1440.png``, ``application-*-390.png``)."""

import pytest
from django.utils import translation
from django.utils.translation import gettext, ngettext
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from push.models import Application, Device
from tests.browser.conftest import choose_language, screenshots, wait_for, wait_text
from tests.conftest import PASSWORD
from tests.push.conftest import add_device

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = [("en", ""), ("zh-hans", "-zh")]


def said(message: str, lang: str, **values) -> str:
    """``message`` as the console says it in ``lang`` (the catalogue's translation)."""
    with translation.override(lang):
        return gettext(message) % values if values else gettext(message)


def said_n(singular: str, plural: str, n: int, lang: str) -> str:
    with translation.override(lang):
        return ngettext(singular, plural, n) % {"n": n}


@pytest.fixture
def devices(app):
    add_device(app, "tok-a", tags=["vip"])
    add_device(app, "tok-b")
    return app


def open_application(page, app, lang):
    d = page.go(f"/a/{app.account_id}/push/applications/{app.pk}/")
    if lang != "en":
        choose_language(d, lang)
    return d


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_an_owner_edits_an_application(page, personas, devices, lang, suffix):
    app = devices
    page.login("olivia", PASSWORD)
    d = open_application(page, app, lang)

    d.find_element(By.ID, "edit-application").click()
    wait_for(d, "save-application")
    screenshots(d, f"application-edit{suffix}")
    name = d.find_element(By.ID, "id_name")
    name.clear()
    name.send_keys("Acme 安卓")
    d.find_element(By.ID, "id_package_names").send_keys("not a package")
    d.find_element(By.ID, "save-application").click()
    wait_text(d, "is not a package name" if lang == "en" else "'not a package'")
    app.refresh_from_db()
    assert app.name == "Acme Android"  # refused: nothing saved
    screenshots(d, f"application-edit-error{suffix}")
    packages = d.find_element(By.ID, "id_package_names")
    packages.clear()
    packages.send_keys("com.acme.app")
    d.find_element(By.ID, "save-application").click()

    wait_text(d, said("%(app)s saved.", lang, app="Acme 安卓"))
    app.refresh_from_db()
    assert (app.name, app.package_names) == ("Acme 安卓", ["com.acme.app"])
    assert d.current_url.endswith(f"/push/applications/{app.pk}/")


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_an_owner_rotates_the_secret_key_after_confirming(page, personas, app, lang, suffix):
    page.login("olivia", PASSWORD)
    d = open_application(page, app, lang)
    old = app.test_secret

    d.find_element(By.ID, "rotate-secret").click()
    alert = WebDriverWait(d, 5).until(EC.alert_is_present())
    assert app.name in alert.text
    alert.dismiss()  # asked, not rotated
    app.refresh_from_db()
    assert app.check_secret(old)
    d.find_element(By.ID, "rotate-secret").click()
    WebDriverWait(d, 5).until(EC.alert_is_present()).accept()

    new = wait_for(d, "secret-key").text
    wait_text(d, said("The previous SecretKey is already refused.", lang))
    app.refresh_from_db()
    assert app.check_secret(new) and not app.check_secret(old)
    screenshots(d, f"application-rotated{suffix}")
    d.refresh()  # shown once: a reload does not show it again
    wait_for(d, "rotate-secret")
    assert new not in d.page_source


@pytest.mark.parametrize(("lang", "suffix"), LANGUAGES)
def test_an_owner_deletes_an_application_after_typing_its_name(
    page, personas, devices, lang, suffix
):
    app = devices
    page.login("olivia", PASSWORD)
    d = open_application(page, app, lang)

    d.find_element(By.ID, "delete-application").click()
    wait_for(d, "confirm-delete")
    listed = d.find_element(By.ID, "deleted-with-it").text
    assert said_n("%(n)s device", "%(n)s devices", 2, lang) in listed
    assert said_n("%(n)s push", "%(n)s pushes", 0, lang) in listed
    screenshots(d, f"application-delete{suffix}")
    d.find_element(By.ID, "id_confirm_name").send_keys("Acme")
    d.find_element(By.ID, "confirm-delete-button").click()
    wait_text(
        d, said("This is not the application's name; type %(name)s exactly.", lang, name=app.name)
    )
    assert Application.objects.filter(pk=app.pk).exists()
    screenshots(d, f"application-delete-error{suffix}")
    field = d.find_element(By.ID, "id_confirm_name")
    field.clear()
    field.send_keys("Acme Android")
    d.find_element(By.ID, "confirm-delete-button").click()

    wait_text(d, said("%(app)s was deleted with its devices and pushes.", lang, app="Acme Android"))
    assert d.current_url.endswith(f"/a/{personas.org.pk}/push/applications/")
    assert not Application.all_objects.filter(pk=app.pk).exists()
    assert not Device.objects.filter(application_id=app.pk).exists()
    screenshots(d, f"application-deleted{suffix}")

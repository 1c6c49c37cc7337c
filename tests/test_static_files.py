"""Static files as production serves them: collected into the manifest storage, then referenced
by the pages and served by WhiteNoise.

With ``DEBUG=false`` the settings switch to WhiteNoise's ``CompressedManifestStaticFilesStorage``,
which rewrites every reference inside CSS and JS to a hashed name and fails ``collectstatic`` on
a reference to a file that is not there (a vendored file's ``sourceMappingURL``, say). The pages
then look every ``{% static %}`` up in the manifest and fail on a missing entry. Both stay strict:
a broken reference must stop the release step, not ship.
"""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, override_settings

from tests.conftest import PASSWORD

PRODUCTION_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


class _Assets(HTMLParser):
    """The stylesheets and scripts a page links."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "").split() and attrs.get("href"):
            self.urls.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])


def linked_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """collectstatic with the production storage into a fresh STATIC_ROOT (once: it takes
    seconds, compressing every file)."""
    root = tmp_path_factory.mktemp("static") / "staticfiles"
    with override_settings(STORAGES=PRODUCTION_STORAGES, STATIC_ROOT=root):
        call_command("collectstatic", "--no-input", verbosity=0)
    return root


@pytest.fixture
def collected(settings, static_root):
    """The production storage, reading the collected STATIC_ROOT."""
    settings.STORAGES = PRODUCTION_STORAGES
    settings.STATIC_ROOT = static_root
    return static_root


def assert_assets_served(client: Client, html: str) -> list[str]:
    urls = linked_assets(html)
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), f"{url} is not a hashed name"
        response = client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        assert b"".join(response.streaming_content), f"{url} is empty"
    return urls


def test_collectstatic_succeeds_with_the_production_storage(collected):
    manifest = (collected / "staticfiles.json").read_text()

    assert "vendor/chartjs/chart.umd.min.js" in manifest
    assert "pushconsole/console.css" in manifest
    # Compressed copies for WhiteNoise to serve.
    assert list(collected.glob("vendor/chartjs/chart.umd.min.*.js.gz"))


def test_the_login_page_links_collected_assets_that_are_served(collected, db):
    client = Client()  # a new client: WhiteNoise indexes STATIC_ROOT when it starts

    page = client.get("/login/")

    assert page.status_code == 200
    urls = assert_assets_served(client, page.content.decode())
    assert any(url.startswith("/static/pushconsole/console.") for url in urls)


def test_the_dashboard_links_collected_assets_that_are_served(collected, personas):
    client = Client()
    client.post("/login/", {"username": "olivia", "password": PASSWORD})

    page = client.get(f"/a/{personas.org.pk}/")

    assert page.status_code == 200
    urls = assert_assets_served(client, page.content.decode())
    assert any(url.startswith("/static/vendor/chartjs/chart.umd.min.") for url in urls)


def test_the_admin_login_links_collected_assets_that_are_served(collected, db):
    client = Client()

    page = client.get("/admin/login/")

    assert page.status_code == 200
    assert assert_assets_served(client, page.content.decode())


def test_a_reference_to_a_missing_static_file_still_fails(collected):
    # Strict manifest: a page naming a file that was not collected must not render.
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        Template("{% load static %}{% static 'vendor/missing.js' %}").render(Context())

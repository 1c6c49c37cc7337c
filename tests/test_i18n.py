"""The console speaks English and Simplified Chinese.

- Every template's visible text is inside ``{% translate %}`` / ``{% blocktranslate %}``
  (a template with a bare English sentence fails here, naming the file, line and text).
- Every message of the catalogue has a Chinese translation, none is fuzzy, and the compiled
  ``.mo`` in the repository is the ``.po`` as it stands.
- Pages come in the browser's language, the user's own choice overrides it, and times carry
  the account's time zone.
"""

import ast
import gettext
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

# Words that are the same in every language: names of products, protocols and keys.
ALLOWED_WORDS = {
    "pushconsole",
    "TPNS",
    "APNs",
    "FCM",
    "SDK",
    "API",
    "HTTP",
    "CSV",
    "ID",
    "SecretId",
    "SecretKey",
    "AccessID",
    "AccessKey",
    "AccessId",
    "SdkAppId",
    "SerialNo",
    "TimeStamp",
    "Sign",
    "HMAC",
    "SHA256",
    "Base64",
    "hex",
    "seq",
}
# Attributes a person reads (tooltips, placeholders, screen readers, buttons' labels).
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
LETTERS = re.compile(r"[A-Za-z]{2,}")


def untranslated(text: str) -> bool:
    words = LETTERS.findall(text)
    return any(word not in ALLOWED_WORDS for word in words)


class _Visible(HTMLParser):
    """The text a person sees, outside <script>, <style>, <code> and <pre> (code is code)."""

    SKIPPED = {"script", "style", "code", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipping = []
        self.found = []  # (text, where)
        self.line = 1

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.skipping.append(tag)
        attrs = dict(attrs)
        for name, value in attrs.items():
            if value and (
                name in VISIBLE_ATTRIBUTES
                or (name == "value" and attrs.get("type") in ("submit", "button"))
            ):
                self.found.append((value, f"{tag}[{name}]"))

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.found.append((data.strip(), "text"))


# A literal in a tag or variable that ends up on the page: `with heading="..."`,
# `default:"..."`. `pluralize` knows only English plurals (use blocktranslate count).
VISIBLE_LITERAL = re.compile(
    r"""(?:\bwith\s+|\s)\w+=("|')(?P<a>[^"']*)\1|default:("|')(?P<b>[^"']*)\3"""
)


def problems(path: Path) -> list[str]:
    source = path.read_text()
    found = []
    parser = _Visible()
    depth = {"translate": 0, "comment": 0, "verbatim": 0, "bodyclass": 0}
    for token in Lexer(source).tokenize():
        where = f"{path.relative_to(ROOT)}:{token.lineno}"
        contents = token.contents.strip()
        if token.token_type == TokenType.BLOCK:
            name = contents.split()[0] if contents else ""
            if name in ("blocktranslate", "blocktrans"):
                depth["translate"] += 1
            elif name in ("endblocktranslate", "endblocktrans"):
                depth["translate"] -= 1
            elif name == "comment":
                depth["comment"] += 1
            elif name == "endcomment":
                depth["comment"] -= 1
            elif name == "block" and contents.split()[1:2] == ["bodyclass"]:
                depth["bodyclass"] += 1  # class names of <body>, not text
            elif name == "endblock" and depth["bodyclass"]:
                depth["bodyclass"] -= 1
            elif name.startswith("verbatim"):
                depth["verbatim"] += 1
            elif name.startswith("endverbatim"):
                depth["verbatim"] -= 1
            if name == "include":
                for m in VISIBLE_LITERAL.finditer(contents):
                    literal = m.group("a") or ""
                    if (" " in literal or literal[:1].isupper()) and untranslated(literal):
                        found.append(f'{where}: literal {literal!r} (use _("..."))')
            parser.feed(" ")  # a tag stands for some text, never for nothing
            continue
        if any(depth.values()):
            if token.token_type == TokenType.TEXT:
                parser.feed(" ")
            continue
        if token.token_type == TokenType.VAR:
            if "pluralize" in contents:
                found.append(f"{where}: pluralize (English plurals only; use blocktranslate count)")
            for m in VISIBLE_LITERAL.finditer(contents):
                literal = m.group("b") or ""
                if untranslated(literal):
                    found.append(f'{where}: literal {literal!r} (use _("..."))')
            parser.feed("0")
            continue
        if token.token_type != TokenType.TEXT:
            continue
        before = len(parser.found)
        parser.feed(token.contents)
        for text, kind in parser.found[before:]:
            if untranslated(text):
                found.append(f"{where}: {kind} {text[:70]!r}")
        del parser.found[before:]
    parser.close()
    return found


ALL_TEMPLATES = sorted(TEMPLATES.rglob("*.html"))


def test_every_template_is_found():
    assert len(ALL_TEMPLATES) >= 40


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_a_template_has_no_visible_text_outside_translate_tags(path):
    assert problems(path) == []


def test_the_checker_finds_bare_text_attributes_literals_and_plurals(tmp_path):
    """The checker fails where it should (and not where it should not)."""
    page = tmp_path / "page.html"
    page.write_text(
        "{% load i18n %}<h1>{% translate 'Fine' %}</h1>\n"
        "<p>Bare sentence</p>\n"
        '<button title="A tooltip">{% translate "OK" %}</button>\n'
        "{% blocktranslate %}Also fine {{ n }}{% endblocktranslate %}\n"
        '{{ x|default:"never" }} {{ n|pluralize }}\n'
        '{% include "x.html" with heading="Your key" return_to="channel" %}\n'
        "<script>var s = 'scripts are skipped';</script><code>/v3/push/app</code> TPNS APNs\n"
        "{% comment %}Comments are skipped{% endcomment %}\n"
    )
    page = page.relative_to(tmp_path)
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = problems(tmp_path / page)
    finally:
        ROOT = saved
    assert [f.split(": ", 1)[1] for f in found] == [
        "text 'Bare sentence'",
        "button[title] 'A tooltip'",
        "literal 'never' (use _(\"...\"))",
        "pluralize (English plurals only; use blocktranslate count)",
        "literal 'Your key' (use _(\"...\"))",
    ]


# The catalogue --------------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (a list), flags."""
    entries, entry, key = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if not line:
            finish()
            entry, key = None, None
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}, "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
            continue
        if line.startswith("#,"):
            entry["flags"].update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            value = ast.literal_eval(line)
            if isinstance(key, tuple):
                entry["msgstr"][key[1]] += value
            else:
                entry[key] += value
            continue
        word, _, rest = line.partition(" ")
        value = ast.literal_eval(rest)
        m = re.fullmatch(r"msgstr\[(\d+)\]", word)
        if m:
            key = ("msgstr", int(m.group(1)))
            entry["msgstr"][key[1]] = value
        elif word == "msgstr":
            key = ("msgstr", 0)
            entry["msgstr"][0] = value
        else:
            key = word
            entry[word] = value
    return [e for e in entries if not e["obsolete"]]


def test_every_message_has_a_chinese_translation_and_none_is_fuzzy():
    entries = [e for e in read_po(PO) if e["msgid"]]
    assert len(entries) > 300
    missing = [e["msgid"] for e in entries if not all(e["msgstr"].values()) or not e["msgstr"]]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert missing == []
    assert fuzzy == []


def test_the_compiled_catalogue_is_the_po_as_it_stands():
    """The .mo is committed (no build step compiles it): it must say what the .po says."""
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    entries = [e for e in read_po(PO) if e["msgid"]]
    stale = []
    for e in entries:
        key = e["msgid"] if "msgctxt" not in e else f"{e['msgctxt']}\x04{e['msgid']}"
        if "msgid_plural" in e:
            got = [compiled._catalog.get((key, n)) for n in sorted(e["msgstr"])]
            want = [e["msgstr"][n] for n in sorted(e["msgstr"])]
        else:
            got, want = compiled._catalog.get(key), e["msgstr"][0]
        if got != want:
            stale.append(e["msgid"])
    assert stale == [], "run: python manage.py compilemessages"
    compiled_ids = {k if isinstance(k, str) else k[0] for k in compiled._catalog if k}
    po_ids = {
        e["msgid"] if "msgctxt" not in e else f"{e['msgctxt']}\x04{e['msgid']}" for e in entries
    }
    assert compiled_ids - {""} == po_ids


# Pages in both languages -------------------------------------------------------------------

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture
def org_in_berlin(personas):
    personas.org.time_zone = "Europe/Berlin"
    personas.org.save(update_fields=["time_zone"])
    return personas.org


def test_a_page_is_in_english_without_accept_language(login, personas):
    page = login(personas.owner).get(f"/a/{personas.org.pk}/")

    text = page.content.decode()
    assert page["Content-Language"] == "en"
    assert '<html lang="en">' in text and "Overview" in text and "概览" not in text


def test_a_page_is_in_chinese_when_the_browser_asks_for_it(login, personas):
    client = login(personas.owner)

    overview = client.get(f"/a/{personas.org.pk}/", **ZH).content.decode()
    records = client.get(f"/a/{personas.org.pk}/sms/records/", **ZH).content.decode()
    compose = client.get(f"/a/{personas.org.pk}/push/pushes/new/", **ZH).content.decode()

    assert '<html lang="zh-hans">' in overview
    assert "概览" in overview and "套餐包" in overview and "推送记录" in overview
    assert "Overview" not in overview
    assert "短信发送记录" in records and "导出 CSV" in records
    assert "创建推送" in compose and "补充短信" in compose and "推送目标" in compose  # labels


def test_the_users_own_language_overrides_the_browser(login, personas):
    client = login(personas.owner)

    switched = client.post("/language/", {"language": "zh-hans", "next": "/keys/"})
    assert switched.status_code == 302 and switched["Location"] == "/keys/"
    assert "API 密钥" in client.get("/keys/").content.decode()  # no Accept-Language sent
    english_browser = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
    assert "API 密钥" in client.get("/keys/", **english_browser).content.decode()

    # Stored on the user: a new login (another browser) speaks Chinese too.
    from django.test import Client

    again = Client()
    again.force_login(personas.owner)
    assert "API 密钥" in again.get("/keys/", **english_browser).content.decode()

    client.post("/language/", {"language": "", "next": "/keys/"})  # back to the browser's
    assert "API 密钥" not in client.get("/keys/", **english_browser).content.decode()
    assert "API 密钥" in client.get("/keys/", **ZH).content.decode()


def test_the_language_switch_refuses_other_sites_and_unknown_languages(login, personas):
    from accounts.preferences import Preference

    client = login(personas.owner)
    away = client.post("/language/", {"language": "fr", "next": "https://evil.example/"})

    assert away["Location"] == "/"
    assert Preference.language_of(personas.owner) == ""


def test_the_login_page_switches_language_for_anonymous_visitors(client, db):
    page = client.get("/login/").content.decode()
    assert 'action="/i18n/setlang/"' in page

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})

    assert "用户名" in client.get("/login/").content.decode()


def test_machine_apis_answer_in_english_whatever_the_client_asks(client, db):
    answer = client.post("/v3/push/app", data="{}", content_type="application/json", **ZH)

    assert answer["Content-Language"] == "en"


def test_times_are_in_the_accounts_zone_and_labelled(login, personas, org_in_berlin):
    from django.utils import timezone

    org_in_berlin.created_at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    org_in_berlin.save(update_fields=["created_at"])
    client = login(personas.owner)

    overview = client.get(f"/a/{org_in_berlin.pk}/").content.decode()
    keys = client.get("/keys/").content.decode()  # not an account page: the account used last
    chinese = client.get(f"/a/{org_in_berlin.pk}/", **ZH).content.decode()

    assert "2026-01-15 13:00" in overview  # 12:00 UTC is 13:00 in Berlin in January
    assert "Times in Europe/Berlin" in overview and "Times in Europe/Berlin" in keys
    assert "时区：Europe/Berlin" in chinese
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks out of the request


def test_csv_exports_are_utf8_with_a_bom_in_the_accounts_zone(login, personas, org_in_berlin):

    from sms.models import SmsMessage

    SmsMessage.objects.create(
        account=org_in_berlin,
        phone_number="+8613711112222",
        region="mainland",
        template_code="1001",
        sign_name="腾讯云",
        content="您的验证码是 1234",
        state=SmsMessage.State.SENT,
        created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    )
    client = login(personas.owner)

    export = client.get(f"/a/{org_in_berlin.pk}/sms/records/", {"export": "csv"})
    body = b"".join(export.streaming_content)

    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "2026-01-15T13:00:00+01:00" in text and "+00:00" not in text
    assert "腾讯云" in text

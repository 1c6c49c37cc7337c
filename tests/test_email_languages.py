"""Every e-mail the product sends is written in its recipient's language.

The e-mails, and the tests that prove each is in the recipient's language:

- the invitation to join an account (``accounts.team.send_invitation_email``): here;
- "waits for review" to the reviewers (``sms.review.notify_reviewers``) and the decision to
  the applicant (``sms.review.notify_applicant``): ``tests/sms/test_admin_language.py``;
- the package balance warnings and the package expiry warning, to the owners and admins
  (``sms.quota.send_to_alert_recipients``): ``tests/sms/test_package_console.py`` and
  ``tests/sms/test_package_expiry.py``.

The first test keeps this list whole: a new place that sends e-mail fails it until it is added
here, with a test of its language.
"""

import ast
from pathlib import Path

from django.core import mail
from django.utils import translation

from accounts import team
from accounts.models import Role
from accounts.preferences import Preference
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "sms", "push", "pushconsole", "lib")
SENDERS = {
    "send_mail",
    "send_mass_mail",
    "mail_admins",
    "mail_managers",
    "EmailMessage",
    "EmailMultiAlternatives",
}
KNOWN = {
    ("accounts/team.py", "send_invitation_email"),
    ("sms/review.py", "notify_reviewers"),
    ("sms/review.py", "notify_applicant"),
    ("sms/quota.py", "send_to_alert_recipients"),
}


def places_that_send_email() -> set[tuple[str, str]]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Call):
                        callee = node.func
                        name = getattr(callee, "id", None) or getattr(callee, "attr", None)
                        if name in SENDERS:
                            found.add((str(path.relative_to(ROOT)), function.name))
    return found


def test_every_place_that_sends_email_is_known_and_tested_for_its_language():
    assert places_that_send_email() == KNOWN


def link_for(token):
    return f"http://testserver/invitations/{token}/"


def invite(personas, email):
    team.invite(personas.org, personas.owner, email, Role.OPERATOR, url_for=link_for)


def test_an_invitation_to_a_user_who_chose_chinese_is_in_chinese(
    personas, django_capture_on_commit_callbacks
):
    nina = make_user("nina")
    Preference.choose(nina, "zh-hans")

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        invite(personas, "NINA@example.com")  # the inviter reads English

    [message] = mail.outbox
    assert message.subject == "您受邀加入 pushconsole 上的 Acme"


def test_an_invitation_to_a_new_address_is_in_the_inviters_language(
    personas, django_capture_on_commit_callbacks
):
    with translation.override("zh-hans"), django_capture_on_commit_callbacks(execute=True):
        invite(personas, "new@example.com")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        invite(personas, "other@example.com")

    chinese, english = mail.outbox
    assert chinese.subject == "您受邀加入 pushconsole 上的 Acme"
    assert english.subject == "You are invited to join Acme on pushconsole"
    assert "操作员" in chinese.body  # the role too, not only the sentences around it


def test_an_invitation_sent_from_a_chinese_console_page_is_chinese(
    login, personas, django_capture_on_commit_callbacks
):
    Preference.choose(personas.owner, "zh-hans")
    client = login(personas.owner)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/a/{personas.org.pk}/team/invite", {"email": "x@example.com", "role": "viewer"}
        )

    [message] = mail.outbox
    assert message.subject == "您受邀加入 pushconsole 上的 Acme"

"""The review workflow: applications wait for the reviewers, who decide in Django admin.

The console and the API create a pending Signature, Template or IdentityApplication and call
``submit``; reviewers approve or reject them (``decide_many`` behind the admin's bulk actions,
``decide`` for one item). Every step is a ``ReviewDecision`` row: the item's audit trail.

An application whose proof document is missing (``Reviewed.missing_proof``) cannot be approved,
alone or in bulk: the reviewer is told which and why, and it stays pending (to be rejected with a
reason, or approved once the proof is there). Reviewers see proofs through the admin only.
"""

import logging
from functools import partial
from typing import NamedTuple

from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext

from accounts.models import Role, TencentCloudAuthorization
from accounts.preferences import Preference

from .models import ProviderSynced, ReviewDecision, ReviewStatus

log = logging.getLogger(__name__)

REVIEWERS_GROUP = "Reviewers"

# Just enough to review: see the applications and their audit trail, and decide (a change).
# No add (applications come from the console and the API), no delete (the trail must stay).
REVIEWER_PERMISSIONS = {
    "signature": ("view", "change"),
    "template": ("view", "change"),
    "identityapplication": ("view", "change"),
    "reviewdecision": ("view",),
}


def ensure_reviewers_group(using: str = "default", **kwargs) -> Group:
    """Create the Reviewers group, or reset it to exactly the review permissions.

    Connected to ``post_migrate`` of the sms app, so every ``migrate`` (and a test database's
    creation) leaves the group in place.
    """
    # The permissions themselves are created by another post_migrate receiver; make sure they
    # exist whatever order the receivers run in.
    create_permissions(global_apps.get_app_config("sms"), verbosity=0, using=using)
    codenames = [
        f"{action}_{model}" for model, actions in REVIEWER_PERMISSIONS.items() for action in actions
    ]
    permissions = Permission.objects.using(using).filter(
        content_type__app_label="sms", codename__in=codenames
    )
    group, _ = Group.objects.using(using).get_or_create(name=REVIEWERS_GROUP)
    group.permissions.set(permissions)
    return group


def _reviewers():
    return (
        get_user_model()
        .objects.filter(Q(groups__name=REVIEWERS_GROUP) | Q(is_superuser=True), is_active=True)
        .exclude(email="")
    )


def reviewer_emails() -> list[str]:
    """Active reviewers and superusers who have an e-mail address."""
    return sorted(set(_reviewers().values_list("email", flat=True)))


def reviewer_emails_by_language() -> dict[str, list[str]]:
    """``reviewer_emails`` grouped by the language each reviewer chose in the console (their
    ``accounts.preferences.Preference``), else the site's default."""
    reviewers = list(_reviewers().values_list("pk", "email"))
    languages = Preference.languages_of(pk for pk, _email in reviewers)
    grouped: dict[str, set[str]] = {}
    for user_id, email in reviewers:
        grouped.setdefault(languages[user_id], set()).add(email)
    return {language: sorted(emails) for language, emails in sorted(grouped.items())}


def admin_path(item) -> str:
    opts = item._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[item.pk])


def notify_reviewers(item) -> int:
    """E-mail the reviewers that ``item`` waits for them; returns the number of messages sent."""
    by_language = reviewer_emails_by_language()
    if not by_language:
        log.warning("nobody to notify of %s %s: no reviewer has an e-mail address", item, item.pk)
        return 0
    opts = item._meta
    queue = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    sent = 0
    # One message per language, to the reviewers who read it.
    for language, recipients in by_language.items():
        with translation.override(language):
            values = {
                "kind": capfirst(opts.verbose_name),
                "item": item,
                "account": item.account,
                "account_id": item.account_id,
            }
            subject = gettext("%(kind)s of %(account)s waits for review") % values
            body = (
                gettext(
                    "%(kind)s %(item)s of account %(account)s (#%(account_id)s) was submitted "
                    "for review."
                )
                % values
                + "\n\n"
                + gettext("Review it in the admin: %(url)s") % {"url": admin_path(item)}
                + "\n"
                + gettext("Pending queue: %(url)s") % {"url": f"{queue}?status__exact=pending"}
                + "\n"
            )
        sent += send_mail(subject, body, None, recipients)
    return sent


def enqueue_provider_submission(item) -> None:
    from django_q.tasks import async_task

    async_task("sms.tasks.submit_to_provider", item._meta.label, item.pk)


def _provider_takes(model) -> bool:
    """Whether applications of this kind go to Tencent Cloud at all (given an authorization)."""
    return issubclass(model, ProviderSynced) and settings.SMS_TRANSPORT == "tencent"


def submits_to_provider(item) -> bool:
    """Whether a new application of this kind and account also goes to Tencent Cloud."""
    return (
        _provider_takes(type(item))
        and TencentCloudAuthorization.objects.confirmed()
        .filter(account_id=item.account_id)
        .exists()
    )


def submit(item, *, by=None, now=None) -> ReviewDecision:
    """Send a newly created (pending) application to review.

    Records the submission now; once the caller's transaction commits, e-mails the reviewers
    and, for signatures and templates of an account whose Tencent Cloud authorization is
    confirmed (with the tencent transport), queues the submission to Tencent. Never calls a
    network service itself.
    """
    decision = item.record(ReviewDecision.Action.SUBMITTED, by=by, now=now)
    # robust: the application is saved either way; a mail server being down must not turn
    # the applicant's request into an error page.
    transaction.on_commit(partial(notify_reviewers, item), robust=True)
    if submits_to_provider(item):
        transaction.on_commit(partial(enqueue_provider_submission, item), robust=True)
    return decision


def amend(item, fields: list[str], *, by=None, now=None) -> ReviewDecision | None:
    """The applicant's change of an application (``Reviewed.amend``): a pending one is edited
    in place, a rejected one goes back to review — then, as on ``submit``, the reviewers are
    e-mailed and (for an authorized account) it goes to Tencent. None if a reviewer decided
    meanwhile (nothing changed)."""
    decision = item.amend(fields, by=by, now=now)
    if decision is not None and decision.action == ReviewDecision.Action.RESUBMITTED:
        transaction.on_commit(partial(notify_reviewers, item), robust=True)
        if submits_to_provider(item):
            transaction.on_commit(partial(enqueue_provider_submission, item), robust=True)
    return decision


class ProofMissing(ValidationError):
    """Approval refused: the application's proof document is missing (the message says which)."""


def decide(item, *, approve: bool, by, reason: str = "", now=None) -> bool:
    """``Reviewed.decide`` as a reviewer does it: approving an item whose proof is missing
    raises ProofMissing (nothing changes). False if it was no longer pending."""
    if approve and item.status == ReviewStatus.PENDING and (why := item.missing_proof()):
        raise ProofMissing(why)
    decided = item.decide(approve=approve, by=by, reason=reason, now=now)
    if decided:
        # robust: the decision stands whether or not the mail server takes the notice.
        transaction.on_commit(partial(notify_applicant, item), robust=True)
    return decided


# Who hears of a decision when the applicant cannot (gone, or no e-mail address): the members
# who run the account.
DECISION_FALLBACK_ROLES = (Role.OWNER, Role.ADMIN)


def applicant_recipients(item) -> list[tuple[str, str]]:
    """(e-mail address, language) of whom a decision on ``item`` is told: the member who
    applied, else the account's owners and admins; each in the language they chose in the
    console (``accounts.preferences``), else the site's default."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    applicant = users.filter(pk=item.created_by_id)
    if not applicant.exists():
        applicant = users.filter(
            memberships__account_id=item.account_id,
            memberships__role__in=DECISION_FALLBACK_ROLES,
        )
    people = list(applicant.order_by("pk").distinct().values_list("pk", "email"))
    languages = Preference.languages_of(pk for pk, _email in people)
    return [(email, languages[pk]) for pk, email in people]


def _title(item) -> str:
    """What the applicant calls the item: the signature's text, the template's ID and name,
    the company's name."""
    if hasattr(item, "text"):
        return f"【{item.text}】"
    if hasattr(item, "code"):
        return f"{item.code} {item.name}"
    return getattr(item, "company_name", str(item))


def _console_link(item) -> str:
    opts, account_id = item._meta, item.account_id
    if opts.model_name in ("signature", "template"):
        path = reverse(f"sms_{opts.model_name}", kwargs={"account_id": account_id, "pk": item.pk})
    else:
        path = reverse("sms_policy", kwargs={"account_id": account_id})
    return settings.CONSOLE_URL + path


def notify_applicant(item) -> int:
    """E-mail the applicant that ``item`` was approved or rejected (with the reviewers'
    reply), in their own language; returns the number of messages sent."""
    messages = []
    link = _console_link(item)
    for email, language in applicant_recipients(item):
        with translation.override(language):
            values = {
                "kind": capfirst(item._meta.verbose_name),
                "item": _title(item),
                "account": item.account,
                "reply": item.review_reply,
                "url": link,
            }
            if item.status == ReviewStatus.APPROVED:
                subject = gettext("%(kind)s %(item)s was approved") % values
                body = (
                    gettext(
                        "%(kind)s %(item)s of account %(account)s was approved by the reviewers "
                        "and can be used from now on."
                    )
                    % values
                )
            else:
                subject = gettext("%(kind)s %(item)s was rejected") % values
                body = (
                    gettext(
                        "%(kind)s %(item)s of account %(account)s was rejected by the "
                        "reviewers. Their reply:"
                    )
                    % values
                    + f"\n\n{item.review_reply}\n\n"
                    + gettext("Change it and submit it again in the console.")
                )
            body += "\n\n" + gettext("Open it in the console: %(url)s") % values + "\n"
        messages.append(EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))
    if not messages:
        log.warning("nobody to tell of the decision on %s %s", item._meta.label, item.pk)
        return 0
    return get_connection().send_messages(messages) or 0


class Decided(NamedTuple):
    """What a bulk decision did: how many were decided, how many were no longer pending, and
    why each refused one (missing proof) was not approved."""

    decided: int
    skipped: int
    refused: list[str]


def decide_many(queryset, *, approve: bool, by, reason: str = "", now=None) -> Decided:
    """Approve or reject every pending item of ``queryset``.

    Items that are no longer pending (decided meanwhile, maybe by another reviewer) are
    skipped and stay as they are; on approval, items whose proof is missing are refused and
    stay pending.
    """
    if not approve and not reason.strip():
        raise ValidationError({"reason": gettext("A rejection needs a reason.")})
    now = now or timezone.now()
    decided = skipped = 0
    refused = []
    for item in queryset.order_by("pk"):
        try:
            changed = decide(item, approve=approve, by=by, reason=reason, now=now)
        except ProofMissing as why:
            refused.append(why.message)
            continue
        if changed:
            decided += 1
        else:
            skipped += 1
    return Decided(decided, skipped, refused)


def resubmit_to_provider(queryset) -> int:
    """Queue another Tencent submission of items whose submission failed; returns how many.

    For refusals Tencent may not repeat (its 1-per-second limit on AddSmsSign, a fixed proof
    image). An interrupted submission (``provider.SUBMITTING``) is not retried: it may have
    reached Tencent, and only a look at the Tencent Cloud console can tell.
    """
    from .provider import SUBMITTING  # not at the top: it loads the Tencent SDK

    failed = (
        queryset.filter(provider_id="", provider_status__isnull=True)
        .exclude(provider_error__in=["", SUBMITTING])
        .exclude(status=ReviewStatus.REJECTED)
    )
    if not _provider_takes(failed.model):
        return 0
    # Only items of accounts with a confirmed authorization (what ``submits_to_provider`` asks).
    confirmed = TencentCloudAuthorization.objects.confirmed().filter(account=OuterRef("account"))
    queued = 0
    for item in failed.filter(Exists(confirmed)):
        # Conditional: of two reviewers retrying at once, one queues the submission.
        cleared = (
            type(item)
            .objects.filter(pk=item.pk, provider_id="", provider_error=item.provider_error)
            .update(provider_error="")
        )
        if cleared:
            transaction.on_commit(partial(enqueue_provider_submission, item), robust=True)
            queued += 1
    return queued

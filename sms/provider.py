"""Signatures and templates at Tencent Cloud: submit new applications, sync Tencent's review.

Used when an account has a confirmed Tencent Cloud authorization and the tencent transport is on:
``review.submit`` queues ``submit`` (through ``sms.tasks.submit_to_provider``) and a scheduled
task runs ``sync_all``. Our review stays the one that decides; Tencent's status only takes
sendability away (``ProviderSynced.is_sendable``): an item rejected there cannot be used here.

Errors and outcomes go onto the item and its audit trail; key pairs never reach a log line.
"""

import base64
import logging
from itertools import islice

from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Account, TencentCloudAuthorization

from . import authorization
from .models import ProviderStatus, Region, ReviewDecision, ReviewStatus, Signature, Template
from .tencentcloud import TencentCloudSDKException, build_request, models

log = logging.getLogger(__name__)

# DescribeSmsSignList / DescribeSmsTemplateList take at most 100 ids per call.
DESCRIBE_CHUNK = 100

# Written before the call to Tencent and replaced by its outcome: a submission that never
# finished (a crashed worker) stays visible and is never repeated blindly, since Tencent may
# have accepted it.
SUBMITTING = (
    "The submission to Tencent Cloud did not finish; it may have reached Tencent. "
    "Check the Tencent Cloud console before applying again."
)


def _chunks(values: list, size: int):
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _international(region: str) -> int:
    return 0 if region == Region.MAINLAND else 1


def _proof_base64(signature: Signature) -> str | None:
    if not signature.proof_image:
        return None
    with signature.proof_image.open("rb") as proof:
        return base64.b64encode(proof.read()).decode("ascii")


def _add_sign(client, signature: Signature) -> tuple[str, str]:
    params = {
        "SignName": signature.text,
        "SignType": signature.sign_type,
        "DocumentType": signature.document_type,
        "International": _international(signature.region),
        "SignPurpose": signature.purpose,
        "ProofImage": _proof_base64(signature),
        "Remark": signature.remark,
    }
    params = {key: value for key, value in params.items() if value is not None}
    response = client.AddSmsSign(build_request(models.AddSmsSignRequest, params))
    sign_id = str(response.AddSignStatus.SignId)
    return (
        sign_id,
        f"AddSmsSign: Tencent Cloud accepted the signature for review (SignId {sign_id}).",
    )


def _add_template(client, template: Template) -> tuple[str, str]:
    params = {
        "TemplateName": template.name,
        "TemplateContent": template.content,
        "SmsType": Template.PROVIDER_SMS_TYPE[template.kind],
        "International": _international(template.region),
        "Remark": template.remark,
    }
    response = client.AddSmsTemplate(build_request(models.AddSmsTemplateRequest, params))
    template_id = str(response.AddTemplateStatus.TemplateId)
    return template_id, (
        f"AddSmsTemplate: Tencent Cloud accepted the template for review "
        f"(TemplateId {template_id})."
    )


def submit(item: Signature | Template) -> bool:
    """Submit a signature (AddSmsSign) or template (AddSmsTemplate) application to Tencent.

    True if Tencent accepted it for review (``provider_id`` set, status "under review"). False
    if it was not submitted: Tencent answered with an error (kept in ``provider_error``), the
    account has no confirmed authorization, the item was rejected or withdrawn here, or it was
    already submitted (or is being submitted) — a task that runs twice never submits twice.
    """
    if not isinstance(item, Signature | Template):
        raise TypeError(f"only signatures and templates go to Tencent Cloud, not {item!r}")
    auth = TencentCloudAuthorization.objects.confirmed().filter(account_id=item.account_id).first()
    if auth is None:
        log.info("%s %s not submitted: no confirmed Tencent Cloud authorization", item, item.pk)
        return False
    model = type(item)
    # The claim: only one caller moves a never-submitted item to "submitting".
    claimed = (
        model.objects.filter(pk=item.pk, provider_id="", provider_error="")
        .filter(provider_status__isnull=True)
        .exclude(status__in=[ReviewStatus.REJECTED, ReviewStatus.WITHDRAWN])
        .update(provider_error=SUBMITTING)
    )
    if not claimed:
        return False

    add = _add_sign if isinstance(item, Signature) else _add_template
    error = ""
    try:
        provider_id, outcome = add(authorization.client(auth), item)
    except TencentCloudSDKException as exc:
        error = f"{exc.get_code()}: {exc.get_message()}"
    except OSError as exc:  # the proof image could not be read: nothing was sent
        error = f"ProofImage: cannot read the proof image ({exc.strerror or exc})"
    if error:
        fields = {"provider_error": error[:200], "provider_status": None}
        outcome = f"Not submitted to Tencent Cloud: {error}"
        log.warning("submitting %s %s to Tencent Cloud failed: %s", model.__name__, item.pk, error)
    else:
        fields = {
            "provider_id": provider_id,
            "provider_status": ProviderStatus.REVIEWING,
            "provider_error": "",
        }
    model.objects.filter(pk=item.pk).update(**fields)
    for name, value in fields.items():
        setattr(item, name, value)
    item.record(ReviewDecision.Action.PROVIDER, reason=outcome)
    return "provider_id" in fields


def _describe_signs(client, international: int, ids: list[int]) -> dict[str, tuple[int, str]]:
    request = build_request(
        models.DescribeSmsSignListRequest, {"International": international, "SignIdSet": ids}
    )
    statuses = client.DescribeSmsSignList(request).DescribeSignListStatusSet or []
    return {str(s.SignId): (s.StatusCode, s.ReviewReply or "") for s in statuses}


def _describe_templates(client, international: int, ids: list[int]) -> dict[str, tuple[int, str]]:
    request = build_request(
        models.DescribeSmsTemplateListRequest,
        {"International": international, "TemplateIdSet": ids},
    )
    statuses = client.DescribeSmsTemplateList(request).DescribeTemplateStatusSet or []
    return {str(s.TemplateId): (s.StatusCode, s.ReviewReply or "") for s in statuses}


DESCRIBE = {Signature: _describe_signs, Template: _describe_templates}


def _status_label(code) -> str:
    try:
        return ProviderStatus(code).label
    except ValueError:
        return f"unknown status {code}"


def _sync_items(client, model, items: list, now) -> int:
    """One Describe call per ≤ 100 items of one region; returns how many items were synced."""
    by_id = {item.provider_id: item for item in items if item.provider_id.isdigit()}
    if not by_id:
        return 0
    international = _international(items[0].region)
    updated, decisions = [], []
    for chunk in _chunks(sorted(by_id, key=int), DESCRIBE_CHUNK):
        try:
            statuses = DESCRIBE[model](client, international, [int(i) for i in chunk])
        except TencentCloudSDKException as exc:
            # One failing call must not stop the others; the next sync tries again.
            log.warning(
                "syncing %s statuses failed: %s", model.__name__, exc.get_code() or "unknown"
            )
            continue
        for provider_id, (code, reply) in statuses.items():
            item = by_id.get(provider_id)
            if item is None:
                continue
            if code != item.provider_status:
                reason = f"Tencent Cloud: {_status_label(code)}." + (f" {reply}" if reply else "")
                decisions.append(
                    ReviewDecision(
                        item=item, action=ReviewDecision.Action.PROVIDER, reason=reason, at=now
                    )
                )
            item.provider_status, item.provider_reply, item.provider_synced_at = code, reply, now
            updated.append(item)
    model.objects.bulk_update(
        updated, ["provider_status", "provider_reply", "provider_synced_at"], batch_size=500
    )
    ReviewDecision.objects.bulk_create(decisions)
    return len(updated)


def sync_account(account: Account, now=None) -> int:
    """Read Tencent's review status of the account's submitted signatures and templates.

    Returns the number of items synced. A status change is recorded on the item's audit trail.
    Items rejected here are left alone: nothing Tencent says can make them usable.
    """
    auth = account.find_authorization(confirmed=True)
    if auth is None:
        return 0
    now = now or timezone.now()
    client = authorization.client(auth)
    synced = 0
    for model in (Signature, Template):
        items = list(
            model.objects.filter(account=account)
            .exclude(provider_id="")
            .exclude(status=ReviewStatus.REJECTED)
            .order_by("pk")
        )
        for region in Region.values:
            in_region = [item for item in items if item.region == region]
            if in_region:
                synced += _sync_items(client, model, in_region, now)
    return synced


def sync_all(now=None) -> int:
    """The scheduled sync: every account with a confirmed authorization and submitted items."""
    now = now or timezone.now()
    submitted = {
        model: model.objects.filter(account=OuterRef("pk"))
        .exclude(provider_id="")
        .exclude(status=ReviewStatus.REJECTED)
        for model in (Signature, Template)
    }
    confirmed = TencentCloudAuthorization.objects.confirmed().filter(account=OuterRef("pk"))
    accounts = Account.objects.filter(
        Exists(submitted[Signature]) | Exists(submitted[Template]), Exists(confirmed)
    ).order_by("pk")
    synced = 0
    for account in accounts:
        try:
            synced += sync_account(account, now=now)
        except Exception:
            # One account's trouble (a broken key, an unreadable answer) must not stop the rest.
            log.exception(
                "syncing signature and template statuses of account %s failed", account.pk
            )
    return synced

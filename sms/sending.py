"""Sending SMS: the one place where limits are counted and quota is spent.

    order = prepare(account, sdk_app_id=..., template_id=..., params=[...], numbers=[...])
    messages = send(order)

``prepare`` resolves and checks everything that can be checked before anything is written, and
raises ``SmsRejected`` naming the field (and the rule that blocks the send,
``SmsRejected.rule``). ``send`` then, for every number, in this order: exempt
list → rate limits → package balance → writes the SmsMessage rows (``sending``, or ``blocked``
with the rule), all in one transaction; then hands the sendable numbers to the transport (≤ 200 a
request, one region a request) and completes the rows (``sent`` / ``failed`` / ``unknown``),
giving back the parts of those that certainly were not sent.

``quote(order)`` asks the same question without writing or locking anything: what each number
would get (its blocking rule, or sent) and the fee. The gates are one function (``_gates``),
so a quote and a send cannot disagree on the same data.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TencentCloudAuthorization
from lib.words import Words

from . import quota, sources
from .bulk import insert_rows, update_rows
from .limits import Limiter, lock_numbers
from .models import (
    PackageCharge,
    Region,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
    region_of,
)
from .numbers import InvalidNumber, normalize
from .rules import Rule
from .transports import (
    SENDSMS_MAX_NUMBERS,
    LocalTransport,
    Outcome,
    OutgoingBatch,
    TencentTransport,
    Transport,
)

# Numbers per call, as Tencent's own SendSms (``transports.SENDSMS_MAX_NUMBERS``).
MAX_NUMBERS_PER_CALL = SENDSMS_MAX_NUMBERS

# Why a whole send could not go ahead (SmsRejected.field → the rule).
_REJECTED_RULES = {
    "template_id": Rule.TEMPLATE_NOT_APPROVED,
    "params": Rule.TEMPLATE_NOT_APPROVED,
    "sign_name": Rule.SIGNATURE_NOT_APPROVED,
    "sdk_app_id": Rule.SMS_APPLICATION_REMOVED,
    "authorization": Rule.NO_AUTHORIZATION,
}


class SmsRejected(Exception):
    """A send that cannot go ahead at all; ``field`` names the offending input.

    ``message`` is what the APIs answer (English, whatever the client asks); ``for_people()``
    says the same in the reader's language (the console's forms and result pages)."""

    def __init__(self, field: str, message: "str | Words", code: str = "invalid"):
        self.words = message if isinstance(message, Words) else Words(message)
        self.field, self.message, self.code = field, self.words.english(), code
        super().__init__(f"{field}: {self.message}")

    def for_people(self) -> str:
        return self.words.say()

    @property
    def rule(self) -> str:
        """The rule that blocks every SMS of the send (a ``Rule``; the field for an input no
        rule covers)."""
        return _REJECTED_RULES.get(self.field.split("[")[0], self.field)


@dataclass(slots=True)
class Recipient:
    number: str  # E.164
    source_id: int | None = None


@dataclass
class SmsOrder:
    """One template with one set of parameters, to many numbers of one region."""

    account: object
    application: SmsApplication
    template: Template
    signature: Signature | None
    params: list[str]
    recipients: list[Recipient]
    source_type: str = sources.API
    session_context: str = ""
    created_by: object = None
    # The confirmed Tencent Cloud authorization found by ``prepare`` (None with the local
    # transport): the send uses it rather than reading it again.
    authorization: TencentCloudAuthorization | None = None
    content: str = field(init=False)

    def __post_init__(self):
        self.content = self.template.render(self.params, self.sign_name)

    @property
    def sign_name(self) -> str:
        return self.signature.text if self.signature else ""

    @property
    def region(self) -> str:
        return self.template.region


MAINLAND_NEEDS_SIGNATURE = _("SMS to the Chinese mainland need an approved signature")


def find_signature(account, region, sign_name: str) -> Signature | None:
    """The signature to use: the named one, or the account's newest sendable one of the region."""
    signatures = Signature.objects.sendable().filter(account=account, region=region)
    if sign_name:
        found = signatures.filter(text=sign_name).first()
        if found is None:
            raise SmsRejected(
                "sign_name",
                Words(
                    _("%(sign_name)s is not an approved %(region)s signature of this account"),
                    sign_name=repr(sign_name),
                    region=region,
                ),
            )
        return found
    found = default_signature(account, region)
    if found is None and region == Region.MAINLAND:
        raise SmsRejected("sign_name", Words(MAINLAND_NEEDS_SIGNATURE))
    return found


def default_signature(account, region) -> Signature | None:
    """The account's approved signature of a region (what a push that names none gets): its
    newest sendable one. Such a push is pinned to it when accepted (``Push.pin_sms``); the
    composer shows it."""
    signatures = Signature.objects.sendable().filter(account=account, region=region)
    return signatures.order_by("-reviewed_at", "-id").first()


def check_template(template: Template, params: Sequence[str]) -> None:
    if not template.is_approved:
        raise SmsRejected(
            "template_id",
            Words(
                _("template %(code)s is %(status)s, not approved"),
                code=template.code,
                status=lambda: template.get_status_display().lower(),
            ),
        )
    if not template.is_sendable:
        raise SmsRejected(
            "template_id",
            Words(
                _("template %(code)s is not approved at Tencent Cloud (%(status)s)"),
                code=template.code,
                status=template.get_provider_status_display,
            ),
        )
    if len(params) != template.param_count:
        raise SmsRejected(
            "params",
            Words(
                _("template %(code)s takes %(count)s parameter(s); got %(got)s"),
                code=template.code,
                count=template.param_count,
                got=len(params),
            ),
        )
    for i, value in enumerate(params):
        if not isinstance(value, str):
            raise SmsRejected(f"params[{i}]", Words(_("must be a string")))
        if template.kind == Template.Kind.VERIFICATION and not (
            value.isdigit() and len(value) <= 6
        ):
            raise SmsRejected(f"params[{i}]", Words(_("a verification code is 1 to 6 digits")))


def normalize_numbers(numbers: Sequence[str], region: str) -> list[str]:
    """The numbers in E.164, all of ``region``, each once: a number given twice (in any
    spelling) is refused naming its second place, so that one call never sends (and charges)
    two SMS of one content to one number — whatever the rate-limit policy or exempt list says."""
    normalized: list[str] = []
    first: dict[str, int] = {}
    for i, raw in enumerate(numbers):
        try:
            number = normalize(raw)
        except InvalidNumber as exc:
            raise SmsRejected(f"numbers[{i}]", exc.words) from None
        if region_of(number) != region:
            raise SmsRejected(
                f"numbers[{i}]",
                Words(
                    _(
                        "%(number)s is not a %(region)s number, and the template is for "
                        "%(region)s: one request never mixes regions"
                    ),
                    number=number,
                    region=Region(region).label,
                ),
            )
        if number in first:
            raise SmsRejected(
                f"numbers[{i}]",
                Words(
                    _("%(number)s is numbers[%(first)s] again: one call sends one SMS per number"),
                    number=number,
                    first=first[number],
                ),
            )
        first[number] = i
        normalized.append(number)
    return normalized


def check_transport(account) -> TencentCloudAuthorization | None:
    """The account's confirmed authorization when sending through Tencent (None otherwise).

    Raises SmsRejected if the tencent transport is on and the account has none."""
    if settings.SMS_TRANSPORT != "tencent":
        return None
    auth = account.find_authorization()
    if auth is None or not auth.is_confirmed:
        raise SmsRejected(
            "authorization",
            Words(_("this account has no confirmed Tencent Cloud authorization to send SMS with")),
        )
    return auth


def resolve(
    account, *, sdk_app_id: str, template_id: str, sign_name: str = "", params: Sequence[str] = ()
) -> tuple[SmsApplication, Template, Signature | None]:
    """Check what can be checked before the numbers are known (a push's sms_info at accept
    time): the SdkAppId is the account's, the template and signature are sendable and of the
    same region, the parameters fit. Raises SmsRejected naming the field."""
    application = _application(account, sdk_app_id)
    template = Template.objects.filter(account=account, code=template_id).first()
    if template is None:
        raise SmsRejected(
            "template_id",
            Words(_("%(id)s is not a template of this account"), id=repr(template_id)),
        )
    check_template(template, list(params))
    signature = find_signature(account, template.region, sign_name)
    _check_length(template, signature)
    return application, template, signature


def resolve_pinned(
    account,
    *,
    sdk_app_id: str,
    template_pk: int,
    signature_pk: int | None,
    params: Sequence[str] = (),
) -> tuple[SmsApplication, Template, Signature | None]:
    """``resolve`` for a template and signature chosen earlier (a push pins them when it is
    accepted), by primary key: they are read (once) and must still be sendable. A pinned
    signature that is no longer approved is refused — its SMS are blocked, never sent under
    another signature."""
    application = _application(account, sdk_app_id)
    template = Template.objects.get(pk=template_pk)
    check_template(template, list(params))
    signature = None
    if signature_pk is not None:
        signature = Signature.objects.get(pk=signature_pk)
        if not signature.is_sendable:
            raise SmsRejected(
                "sign_name",
                Words(
                    _(
                        "signature %(text)s, pinned when the push was accepted, is no longer "
                        "approved; its SMS are not sent under another signature"
                    ),
                    text=repr(signature.text),
                ),
            )
    elif template.region == Region.MAINLAND:
        raise SmsRejected("sign_name", Words(MAINLAND_NEEDS_SIGNATURE))
    _check_length(template, signature)
    return application, template, signature


def _application(account, sdk_app_id: str) -> SmsApplication:
    application = SmsApplication.objects.filter(account=account, sdk_app_id=sdk_app_id).first()
    if application is None:
        raise SmsRejected(
            "sdk_app_id",
            Words(_("%(id)s is not an SMS application of this account"), id=repr(sdk_app_id)),
        )
    return application


def _check_length(template: Template, signature: Signature | None) -> None:
    try:
        template.check_length(signature.text if signature else "")
    except ValidationError as exc:
        raise SmsRejected("template_id", " ".join(exc.messages)) from None


def prepare(
    account,
    *,
    sdk_app_id: str,
    template_id: str,
    sign_name: str = "",
    params: Sequence[str] = (),
    numbers: Sequence[str] = (),
    max_numbers: int | None = MAX_NUMBERS_PER_CALL,
    normalized: bool = False,
    source_type: str = sources.API,
    source_ids: Sequence[int | None] | None = None,
    session_context: str = "",
    created_by=None,
    resolved: tuple[SmsApplication, Template, Signature | None] | None = None,
) -> SmsOrder:
    """Resolve and check a send; raises SmsRejected naming the field. Writes nothing.

    A caller that already has what ``resolve`` returned for these arguments passes it as
    ``resolved`` instead of having it looked up again; ``normalized`` says the numbers are E.164,
    each once and of the template's region already (the supplementary-SMS planner checked them),
    so they are not checked again."""
    params = list(params)
    application, template, signature = resolved or resolve(
        account, sdk_app_id=sdk_app_id, template_id=template_id, sign_name=sign_name, params=params
    )
    if max_numbers is not None and len(numbers) > max_numbers:
        raise SmsRejected(
            "numbers",
            Words(
                _("at most %(most)s numbers per call; got %(got)s"),
                most=max_numbers,
                got=len(numbers),
            ),
        )
    if normalized:
        numbers = list(numbers)
    else:
        numbers = normalize_numbers(numbers, template.region)
    authorization = check_transport(account)
    ids = list(source_ids) if source_ids is not None else [None] * len(numbers)
    return SmsOrder(
        account=account,
        application=application,
        template=template,
        signature=signature,
        params=params,
        recipients=[Recipient(n, i) for n, i in zip(numbers, ids, strict=True)],
        source_type=source_type,
        session_context=session_context,
        created_by=created_by,
        authorization=authorization,
    )


def transport_for(account, authorization: TencentCloudAuthorization | None = None) -> Transport:
    """The transport to send the account's SMS with. ``authorization`` is the account's
    confirmed one if the caller has it (``SmsOrder.authorization``); else it is looked up."""
    if settings.SMS_TRANSPORT == "local":
        return LocalTransport()
    if authorization is None:
        authorization = check_transport(account)
    return TencentTransport(authorization.secret_id, authorization.secret_key())


def recheck(order: SmsOrder) -> None:
    """The template and signature may have been revoked since the order was prepared."""
    template = Template.objects.get(pk=order.template.pk)
    check_template(template, order.params)
    if order.signature is not None:
        signature = Signature.objects.get(pk=order.signature.pk)
        if not signature.is_sendable:
            raise SmsRejected(
                "sign_name",
                Words(_("signature %(text)s is no longer approved"), text=repr(signature.text)),
            )


@dataclass(slots=True)
class Outgoing:
    """One recipient of an order as its SmsMessage row stands (no model instance: the engine
    writes thousands of these a second)."""

    number: str
    source_id: int | None = None
    pk: int | None = None
    state: str = SmsMessage.State.SENDING
    reason: str = ""
    charged: int = 0
    retryable: bool = False


# A caller's last checks under the per-number locks: recipients → {source_id: why} of those to
# drop (the value is the caller's own; the platform only drops them).
Screen = Callable[[list[Recipient]], Mapping[int, object]]


def _gates(
    recipients: list[Recipient], limiter: Limiter, wallet: quota.Wallet, fee: int
) -> Iterator[tuple[Recipient, Rule | None, list | None]]:
    """Per recipient, in order: exempt list and rate limits, then the package balance. Yields
    (recipient, the rule that blocks it or None, the package parts it takes); counts what it
    lets through, so later recipients see it (with no rule on, there is nothing to count)."""
    active = limiter.active
    for recipient in recipients:
        rule = limiter.broken_rule(recipient.number) if active else None
        taken = None if rule else wallet.take(fee)
        if rule is None and taken is None:
            rule = Rule.INSUFFICIENT_PACKAGE
        elif rule is None and active:
            limiter.count(recipient.number)
        yield recipient, rule, taken


@dataclass
class Quote:
    """What sending an order would do now, number by number (``quote``)."""

    fee_per_sms: int
    balance: int  # the package balance of the order's region before it
    blocked: dict[int, Rule]  # recipient position → the rule that would block it
    count: int  # recipients

    @property
    def sendable(self) -> int:
        return self.count - len(self.blocked)

    @property
    def fee(self) -> int:
        return self.sendable * self.fee_per_sms


def quote(order: SmsOrder, now=None) -> Quote:
    """The gates ``reserve`` applies — exempt list, rate limits, package balance — evaluated
    for the order's recipients now, without locking or writing anything (a preview: a send a
    moment later may find other figures)."""
    now = now or timezone.now()
    fee = SmsMessage.fee_of(order.content)
    limiter = Limiter(order.account, SmsMessage.hash_content(order.content), now)
    limiter.load([r.number for r in order.recipients])
    wallet = quota.Wallet(order.account, order.region, now, lock=False)
    balance = wallet.left
    blocked = {
        i: rule
        for i, (_, rule, _) in enumerate(_gates(order.recipients, limiter, wallet, fee))
        if rule is not None
    }
    return Quote(fee, balance, blocked, len(order.recipients))


def reserve(
    order: SmsOrder,
    *,
    now=None,
    screen: Screen | None = None,
) -> list[Outgoing]:
    """Apply the gates and write one SmsMessage row per recipient, in one transaction.

    ``screen`` lets a caller drop recipients at the last moment, under the same per-number
    locks (so its checks cannot race with another sender of the same numbers): it gets the
    recipients and returns ``{source_id: why}`` for those to drop; they get no row at all.
    """
    now = now or timezone.now()
    fee = SmsMessage.fee_of(order.content)
    content_hash = SmsMessage.hash_content(order.content)
    common = dict(
        account_id=order.account.pk,
        application_id=order.application.pk,
        region=order.region,
        template_id=order.template.pk,
        signature_id=order.signature.pk if order.signature else None,
        sign_name=order.sign_name,
        template_code=order.template.code,
        params=order.params,
        content=order.content,
        content_hash=content_hash,
        fee=fee,
        session_context=order.session_context,
        source_type=order.source_type,
        created_by_id=order.created_by.pk if order.created_by else None,
        created_at=now,
    )
    with transaction.atomic():
        recipients = order.recipients
        lock_numbers(order.account.pk, [r.number for r in recipients])
        if screen is not None:
            dropped = screen(recipients)
            recipients = [r for r in recipients if r.source_id not in dropped]
        limiter = Limiter(order.account, content_hash, now)
        limiter.load([r.number for r in recipients])
        wallet = quota.Wallet(order.account, order.region, now)
        rows, charges = [], []
        for recipient, rule, taken in _gates(recipients, limiter, wallet, fee):
            row = Outgoing(recipient.number, recipient.source_id)
            if rule is not None:
                row.state, row.reason = SmsMessage.State.BLOCKED, rule.value
            else:
                row.charged = fee
                charges.extend((row, package.id, amount) for package, amount in taken)
            rows.append(row)
        pks = insert_rows(
            SmsMessage,
            common,
            {
                "phone_number": [r.number for r in rows],
                "source_id": [r.source_id for r in rows],
                "state": [r.state for r in rows],
                "reason": [r.reason for r in rows],
                "charged": [r.charged for r in rows],
            },
        )
        for row, pk in zip(rows, pks, strict=True):
            row.pk = pk
        insert_rows(
            PackageCharge,
            {"at": now},
            {
                "message_id": [row.pk for row, _, _ in charges],
                "package_id": [package for _, package, _ in charges],
                "amount": [amount for _, _, amount in charges],
            },
        )
        wallet.commit()
    return rows


def dispatch(order: SmsOrder, rows: list[Outgoing], transport: Transport, *, now=None) -> None:
    """Hand the reserved messages to the transport and complete their rows."""
    pending = [r for r in rows if r.state == SmsMessage.State.SENDING]
    if not pending:
        return
    batch = OutgoingBatch(
        sdk_app_id=order.application.sdk_app_id,
        template_id=order.template.provider_template_id,
        sign_name=order.sign_name,
        params=tuple(order.params),
        numbers=tuple(r.number for r in pending),
        region=order.region,
        session_context=order.session_context,
        content=order.content,
    )
    complete(pending, transport.send(batch), transport, now=now)


def complete(pending: list[Outgoing], results, transport: Transport, *, now=None) -> None:
    """Write the provider's answer into the rows (one statement) and refund what surely failed."""
    now = now or timezone.now()
    columns = {
        name: []
        for name in (
            "state",
            "reason",
            "error_message",
            "retryable",
            "serial_no",
            "iso_code",
            "request_id",
            "sent_at",
        )
    }
    not_sent = []
    for row, result in zip(pending, results, strict=True):
        if result.outcome == Outcome.SENT:
            row.state = SmsMessage.State.SENT
        else:
            row.state = (
                SmsMessage.State.FAILED
                if result.outcome == Outcome.FAILED
                else SmsMessage.State.UNKNOWN
            )
            row.reason = result.code
            row.retryable = bool(result.error and result.error.kind != "permanent")
            if result.outcome == Outcome.FAILED:
                not_sent.append(row)
        columns["state"].append(row.state)
        columns["reason"].append(row.reason)
        sent = row.state == SmsMessage.State.SENT
        columns["error_message"].append("" if sent else result.message)
        columns["retryable"].append(row.retryable)
        columns["serial_no"].append(result.serial_no)
        columns["iso_code"].append(result.iso_code)
        columns["request_id"].append(result.request_id)
        columns["sent_at"].append(now if sent else None)
    columns["transport"] = [transport.name] * len(pending)
    columns["simulated"] = [transport.simulated] * len(pending)
    update_rows(SmsMessage, [r.pk for r in pending], columns)
    quota.refund(not_sent)


def send_rows(
    order: SmsOrder,
    *,
    now=None,
    transport: Transport | None = None,
    screen: Screen | None = None,
    recheck_template: bool = True,
) -> list[Outgoing]:
    """Gate, record, send and complete; one row per recipient not screened out.

    The template and signature are checked again first (they may have been revoked since the
    order was prepared), unless the caller resolved them a moment ago (``recheck_template``
    False: the supplementary-SMS engine resolves them once per batch)."""
    if recheck_template:
        recheck(order)
    rows = reserve(order, now=now, screen=screen)
    transport = transport or transport_for(order.account, order.authorization)
    dispatch(order, rows, transport, now=now)
    return rows


def send(
    order: SmsOrder,
    *,
    now=None,
    transport: Transport | None = None,
    screen: Screen | None = None,
) -> list[SmsMessage]:
    """``send_rows``, answered with the SmsMessage records (for the API: at most 200)."""
    rows = send_rows(order, now=now, transport=transport, screen=screen)
    found = SmsMessage.objects.in_bulk([r.pk for r in rows])
    return [found[r.pk] for r in rows]

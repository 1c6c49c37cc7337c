"""Bodies of /v3/device/account/batchoperate and /v3/device/account/query, and how a TPNS
account is matched against stored bindings (phone numbers in E.164)."""

from dataclasses import dataclass, field

from django.db.models import Q

from push.models import PHONE_ACCOUNT_TYPE
from sms.numbers import InvalidNumber, normalize

from .fields import INT32_MAX, Fields

MAX_BINDING_TOKENS = 20  # account batchoperate: tokens (or accounts) per call
MAX_QUERY_ITEMS = 100  # account query: accounts or tokens per call


def normalize_or_keep(number: str) -> str:
    """A phone account as stored (E.164); a value that is no number stays as given."""
    try:
        return normalize(number)
    except InvalidNumber:
        return number


@dataclass
class Binding:
    account: str
    account_type: int


@dataclass
class BatchOperation:
    operator_type: int
    token_accounts: list[tuple[str, list[Binding]]] = field(default_factory=list)  # 1–3
    tokens: list[str] = field(default_factory=list)  # 4
    accounts: list[Binding] = field(default_factory=list)  # 5


def _bindings(values: list, path: str, default_type: int) -> list[Binding]:
    bindings = []
    for i, value in enumerate(values):
        a = Fields.of(value, f"{path}[{i}]")
        account = a.string("account", required=True, max_length=128)
        account_type = a.integer("account_type", default=default_type, minimum=0, maximum=INT32_MAX)
        bindings.append(Binding(account, account_type))
    return bindings


def parse_batchoperate(data: dict) -> BatchOperation:
    f = Fields(data)
    op = BatchOperation(f.integer("operator_type", required=True, choices=(1, 2, 3, 4, 5)))
    default_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    if op.operator_type in (1, 2, 3):
        pairs = f.array("token_accounts", required=True, max_items=MAX_BINDING_TOKENS)
        for i, pair in enumerate(pairs):
            p = Fields.of(pair, f"token_accounts[{i}]")
            token = p.string("token", required=True)
            accounts = p.array("account_list", required=True)
            op.token_accounts.append(
                (token, _bindings(accounts, p.name("account_list"), default_type))
            )
    elif op.operator_type == 4:
        op.tokens = f.strings("token_list", required=True, max_items=MAX_BINDING_TOKENS)
    else:
        accounts = f.array("account_list", required=True, max_items=MAX_BINDING_TOKENS)
        op.accounts = _bindings(accounts, "account_list", default_type)
    return op


@dataclass
class AccountQuery:
    operator_type: int
    accounts: list[Binding] = field(default_factory=list)  # 1: accounts → tokens
    tokens: list[str] = field(default_factory=list)  # 2: tokens → accounts


def parse_account_query(data: dict) -> AccountQuery:
    f = Fields(data)
    query = AccountQuery(f.integer("operator_type", required=True, choices=(1, 2)))
    default_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    if query.operator_type == 1:
        accounts = f.array("account_list", required=True, max_items=MAX_QUERY_ITEMS)
        query.accounts = _bindings(accounts, "account_list", default_type)
    else:
        query.tokens = f.strings("token_list", required=True, max_items=MAX_QUERY_ITEMS)
    return query


def stored_account(binding: Binding) -> str:
    """The account as bindings store it: phone numbers (type 1002) in E.164."""
    if binding.account_type == PHONE_ACCOUNT_TYPE:
        return normalize_or_keep(binding.account)
    return binding.account


def binding_filter(binding: Binding) -> Q:
    """The DeviceAccount rows of one (account, account_type)."""
    return Q(account_type=binding.account_type, account=stored_account(binding))


def bindings_filter(bindings) -> Q:
    """The DeviceAccount rows of any of the (account, account_type)s; none for no bindings."""
    wanted = Q(pk__in=[])
    for binding in bindings:
        wanted |= binding_filter(binding)
    return wanted

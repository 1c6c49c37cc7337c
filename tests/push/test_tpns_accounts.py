"""POST /v3/device/account/batchoperate (operator types 1–5) and /v3/device/account/query."""

from datetime import UTC, datetime

import pytest

from push.models import DeviceAccount
from tests.push.conftest import add_device, bound, outsider_app, set_clock
from tests.push.test_tpns_auth import tpns


def operate(client, app, data):
    return tpns(client, app, "device/account/batchoperate", data).json()


def query(client, app, data):
    return tpns(client, app, "device/account/query", data).json()


@pytest.fixture
def devices(app):
    return {key: add_device(app, f"tok-{key}") for key in "abc"}


@pytest.fixture
def other_device(personas):
    other = outsider_app(personas)
    device = add_device(other, "tok-x")
    DeviceAccount.objects.create(device=device, application=other, account="alice")
    return device


def pairs(*items):
    """token_accounts from (token, [account or (account, account_type)]) pairs."""
    out = []
    for token, accounts in items:
        account_list = []
        for a in accounts:
            if isinstance(a, tuple):
                account_list.append({"account": a[0], "account_type": a[1]})
            else:
                account_list.append({"account": a})
        out.append({"token": token, "account_list": account_list})
    return out


@pytest.mark.parametrize("operator_type", [1, 2])
def test_binding_overwrites_the_account_of_the_same_type_only(client, app, devices, operator_type):
    DeviceAccount.objects.create(device=devices["a"], application=app, account="old")
    DeviceAccount.objects.create(
        device=devices["a"], application=app, account_type=1002, account="+8613711110001"
    )

    answer = operate(
        client,
        app,
        {
            "operator_type": operator_type,
            "token_accounts": pairs(("tok-a", ["alice", ("a@example.com", 1005)])),
        },
    )

    assert answer == {"ret_code": 0, "err_msg": "NO_ERROR", "result": ["0"]}
    assert bound(devices["a"]) == {0: "alice", 1005: "a@example.com", 1002: "+8613711110001"}


def test_a_later_account_of_the_same_type_in_one_call_wins(client, app, devices):
    operate(
        client,
        app,
        {"operator_type": 2, "token_accounts": pairs(("tok-a", ["first", "second"]))},
    )

    assert bound(devices["a"]) == {0: "second"}


def test_the_top_level_account_type_applies_unless_an_account_gives_its_own(client, app, devices):
    operate(
        client,
        app,
        {
            "operator_type": 2,
            "account_type": 7,
            "token_accounts": pairs(("tok-a", ["seven", ("nine", 9)])),
        },
    )

    assert bound(devices["a"]) == {7: "seven", 9: "nine"}


def test_a_rebinding_makes_the_device_the_accounts_latest(client, app, devices, monkeypatch):
    def bind_at(day, token):
        set_clock(monkeypatch, datetime(2030, 1, day, tzinfo=UTC).timestamp())
        operate(client, app, {"operator_type": 2, "token_accounts": pairs((token, ["alice"]))})

    def latest_first():
        answer = query(client, app, {"operator_type": 1, "account_list": [{"account": "alice"}]})
        return answer["account_tokens"][0]["token_list"]

    bind_at(1, "tok-a")
    link = DeviceAccount.objects.get(device=devices["a"])
    assert link.created_at == datetime(2030, 1, 1, tzinfo=UTC)
    bind_at(2, "tok-b")  # another device, bound later: now the account's latest
    assert latest_first() == ["tok-b", "tok-a"]

    bind_at(3, "tok-a")  # the rebinding refreshes the binding time

    link = DeviceAccount.objects.get(device=devices["a"])
    assert link.created_at == datetime(2030, 1, 3, tzinfo=UTC)
    assert latest_first() == ["tok-a", "tok-b"]


def test_phone_numbers_are_bound_in_e164_and_overwritten(client, app, devices):
    first = operate(
        client,
        app,
        {
            "operator_type": 2,
            "token_accounts": pairs(
                ("tok-a", [("137 1111 0001", 1002)]),
                ("tok-b", [("+44 7911 123456", 1002)]),
            ),
        },
    )
    again = operate(
        client,
        app,
        {"operator_type": 2, "token_accounts": pairs(("tok-a", [("0086-13711110009", 1002)]))},
    )

    assert (first["result"], again["result"]) == (["0", "0"], ["0"])
    assert bound(devices["a"]) == {1002: "+8613711110009"}
    assert bound(devices["b"]) == {1002: "+447911123456"}


def test_an_invalid_phone_number_fails_that_token_only(client, app, devices):
    answer = operate(
        client,
        app,
        {
            "operator_type": 2,
            "token_accounts": pairs(
                ("tok-a", ["alice", ("12345", 1002)]),
                ("tok-b", [("13711110002", 1002)]),
            ),
        },
    )

    assert answer["ret_code"] == 1008026
    assert answer["result"] == ["1008007", "0"]
    assert bound(devices["a"]) == {}  # nothing of the failed token changed
    assert bound(devices["b"]) == {1002: "+8613711110002"}


def test_an_unknown_or_foreign_token_is_1008006_and_is_never_bound(
    client, app, devices, other_device
):
    answer = operate(
        client,
        app,
        {"operator_type": 2, "token_accounts": pairs(("nope", ["bob"]), ("tok-x", ["bob"]))},
    )

    assert answer["ret_code"] == 1008027
    assert answer["result"] == ["1008006", "1008006"]
    assert bound(other_device) == {0: "alice"}


def test_type_3_unbinds_the_listed_accounts(client, app, devices):
    for account_type, account in ((0, "alice"), (1002, "+8613711110001"), (5, "keep")):
        DeviceAccount.objects.create(
            device=devices["a"], application=app, account_type=account_type, account=account
        )

    answer = operate(
        client,
        app,
        {
            "operator_type": 3,
            "token_accounts": pairs(("tok-a", ["alice", ("13711110001", 1002), ("keep", 6)])),
        },
    )

    assert answer["result"] == ["0"]
    assert bound(devices["a"]) == {5: "keep"}


def test_type_4_unbinds_every_account_of_the_tokens(client, app, devices, other_device):
    for key in "ab":
        DeviceAccount.objects.create(device=devices[key], application=app, account="alice")
        DeviceAccount.objects.create(
            device=devices[key], application=app, account_type=1002, account="+8613711110001"
        )

    answer = operate(client, app, {"operator_type": 4, "token_list": ["tok-a", "tok-x"]})

    assert (answer["ret_code"], answer["result"]) == (1008026, ["0", "1008006"])
    assert bound(devices["a"]) == {}
    assert bound(devices["b"]) == {0: "alice", 1002: "+8613711110001"}
    assert bound(other_device) == {0: "alice"}


def test_type_5_unbinds_an_account_from_all_the_apps_tokens(client, app, devices, other_device):
    for key in "ab":
        DeviceAccount.objects.create(device=devices[key], application=app, account="alice")
    DeviceAccount.objects.create(
        device=devices["c"], application=app, account_type=1002, account="+8613711110003"
    )

    answer = operate(
        client,
        app,
        {
            "operator_type": 5,
            "account_list": [
                {"account": "alice"},
                {"account": "13711110003", "account_type": 1002},
            ],
        },
    )

    assert answer == {"ret_code": 0, "err_msg": "NO_ERROR", "result": ["0", "0"]}
    assert not DeviceAccount.objects.filter(application=app).exists()
    assert bound(other_device) == {0: "alice"}


@pytest.mark.parametrize(
    "data, ret_code, err_msg",
    [
        ({}, 1008002, "operator_type: required"),
        ({"operator_type": 6}, 1008007, "operator_type: must be one of 1, 2, 3, 4, 5; got 6"),
        ({"operator_type": 2}, 1008002, "token_accounts: required"),
        ({"operator_type": 4}, 1008002, "token_list: required"),
        ({"operator_type": 5}, 1008002, "account_list: required"),
        (
            {"operator_type": 2, "token_accounts": pairs(*[(f"t{i}", ["a"]) for i in range(21)])},
            1008007,
            "token_accounts: at most 20 items; got 21",
        ),
        (
            {"operator_type": 4, "token_list": [f"t{i}" for i in range(21)]},
            1008007,
            "token_list: at most 20 items; got 21",
        ),
        (
            {"operator_type": 2, "token_accounts": [{"token": "tok-a", "account_list": ["a"]}]},
            1008007,
            "token_accounts[0].account_list[0]: must be an object",
        ),
        (
            {"operator_type": 2, "token_accounts": [{"token": "tok-a", "account_list": [{}]}]},
            1008002,
            "token_accounts[0].account_list[0].account: required",
        ),
        (
            {"operator_type": 2, "token_accounts": pairs(("tok-a", [("a", -1)]))},
            1008007,
            "token_accounts[0].account_list[0].account_type: must be at least 0",
        ),
        (
            {"operator_type": 2, "token_accounts": pairs(("tok-a", ["x" * 129]))},
            1008007,
            "token_accounts[0].account_list[0].account: at most 128 characters",
        ),
    ],
)
def test_a_malformed_batch_is_refused_and_binds_nothing(
    client, app, devices, data, ret_code, err_msg
):
    answer = operate(client, app, data)

    assert (answer["ret_code"], answer["err_msg"]) == (ret_code, err_msg)
    assert not DeviceAccount.objects.exists()


def test_bindings_made_through_the_api_are_what_pushes_target(client, app, devices):
    operate(
        client,
        app,
        {"operator_type": 2, "token_accounts": pairs(("tok-b", [("u-42", 3)]))},
    )

    answer = tpns(
        client,
        app,
        "push/app",
        {
            "audience_type": "account",
            "account_list": ["u-42"],
            "account_type": 3,
            "message_type": "notify",
            "message": {"title": "t", "content": "c"},
        },
    ).json()

    assert answer["ret_code"] == 0
    assert list(app.pushes.get().deliveries.values_list("device__token", flat=True)) == ["tok-b"]


# --------------------------------------------------------------------------------------------
# /v3/device/account/query


def test_query_accounts_to_tokens(client, app, devices, other_device):
    DeviceAccount.objects.create(device=devices["a"], application=app, account="alice")
    DeviceAccount.objects.create(device=devices["b"], application=app, account="alice")
    DeviceAccount.objects.create(
        device=devices["c"], application=app, account_type=1002, account="+8613711110003"
    )

    answer = query(
        client,
        app,
        {
            "operator_type": 1,
            "account_list": [
                {"account": "alice"},
                {"account": "13711110003", "account_type": 1002},
                {"account": "nobody"},
            ],
        },
    )

    assert (answer["retCode"], answer["errMsg"]) == (0, "NO_ERROR")
    assert "ret_code" not in answer
    assert answer["result"] == ["0", "0", "10110008"]
    alice, phone, nobody = answer["account_tokens"]
    assert alice["account"] == "alice" and set(alice["token_list"]) == {"tok-a", "tok-b"}
    assert phone == {"account": "13711110003", "account_type": 1002, "token_list": ["tok-c"]}
    assert nobody["token_list"] == []


def test_query_tokens_to_accounts(client, app, devices, other_device):
    DeviceAccount.objects.create(device=devices["a"], application=app, account="alice")
    DeviceAccount.objects.create(
        device=devices["a"], application=app, account_type=1002, account="+8613711110001"
    )

    answer = query(client, app, {"operator_type": 2, "token_list": ["tok-a", "tok-b", "tok-x"]})

    assert answer["retCode"] == 0
    assert answer["result"] == ["0", "0", "10110008"]
    assert answer["token_accounts"] == [
        {
            "token": "tok-a",
            "account_list": [
                {"account": "alice", "account_type": 0},
                {"account": "+8613711110001", "account_type": 1002},
            ],
        },
        {"token": "tok-b", "account_list": []},
        {"token": "tok-x", "account_list": []},  # another app's device: nothing is revealed
    ]


@pytest.mark.parametrize(
    "data, ret_code, err_msg",
    [
        ({}, 1008002, "operator_type: required"),
        ({"operator_type": 3}, 1008007, "operator_type: must be one of 1, 2; got 3"),
        ({"operator_type": 1}, 1008002, "account_list: required"),
        ({"operator_type": 2, "token_list": "tok-a"}, 1008007, "token_list: must be an array"),
    ],
)
def test_a_malformed_query_answers_in_camel_case(client, app, data, ret_code, err_msg):
    assert query(client, app, data) == {"retCode": ret_code, "errMsg": err_msg}

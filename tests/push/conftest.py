"""Push fixtures on top of the personas: an application with devices, the TPNS API's clock."""

import pytest

from push.models import Application, Device, DeviceAccount, DeviceTag
from push.tpns.auth import TpnsAuthentication


def add_device(app, token, *, tags=(), phone=None, enabled=True, **fields):
    device = Device.objects.create(
        application=app, token=token, platform=app.platform, notifications_enabled=enabled, **fields
    )
    DeviceTag.objects.bulk_create([DeviceTag(device=device, application=app, tag=t) for t in tags])
    if phone:
        DeviceAccount.objects.create(
            device=device, application=app, account_type=1002, account=phone
        )
    return device


def bound(device) -> dict[int, str]:
    """The device's bound accounts: {account_type: account}."""
    return dict(DeviceAccount.objects.filter(device=device).values_list("account_type", "account"))


def outsider_app(personas, name="Other"):
    """An Android application of the outsider's account; ``.test_secret`` is its SecretKey."""
    other, secret = Application.objects.create_for(
        personas.outsider_account, name=name, platform="android"
    )
    other.test_secret = secret
    return other


@pytest.fixture
def other_app(personas):
    """The outsider's app, with a device whose token and tags mirror ours."""
    other = outsider_app(personas)
    add_device(other, "tok-x", tags=["vip"])
    add_device(other, "tok-a", tags=["vip"])
    return other


def set_clock(monkeypatch, seconds: float) -> None:
    """Fix the TPNS API's clock (signature skew, push times, rate limit, idempotency window)."""
    monkeypatch.setattr(TpnsAuthentication, "clock", staticmethod(lambda: seconds))


@pytest.fixture
def clock(monkeypatch):
    return lambda seconds: set_clock(monkeypatch, seconds)

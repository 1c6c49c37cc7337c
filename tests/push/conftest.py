"""Push fixtures on top of the personas: an application with devices."""

import pytest

from push.models import Application, Device, DeviceAccount, DeviceTag, Platform


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


@pytest.fixture
def app(personas):
    application, secret = Application.objects.create_for(
        personas.org, name="Acme Android", platform=Platform.ANDROID
    )
    application.test_secret = secret
    return application

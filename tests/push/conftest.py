"""Push fixtures on top of the personas: an application with devices."""

from push.models import Device, DeviceAccount, DeviceTag


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

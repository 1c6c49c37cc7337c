"""A device's custom user attributes (TPNS ``/v3/device/set_custom_attribute``): a name (≤ 50
bytes) to a value per device, each change one statement."""

from datetime import datetime

from django.db.models import Q

from .models import Device, DeviceAttribute

# Ours: TPNS bounds a token's attributes by the ones created in its console, which we lack.
MAX_PER_DEVICE = 100


def of(device: Device) -> dict[str, str]:
    """The device's attributes, by name."""
    rows = DeviceAttribute.objects.filter(device=device, application_id=device.application_id)
    return dict(rows.order_by("name").values_list("name", "value"))


def set_many(device: Device, values: dict[str, str], now: datetime) -> bool:
    """Set these attributes of the device (added, or overwritten), in one upsert; False, and
    nothing written, when the device would have more than ``MAX_PER_DEVICE``. The device row
    is locked meanwhile (call in a transaction), so two calls cannot both pass the bound."""
    Device.objects.select_for_update().filter(pk=device.pk).values_list("pk").first()
    kept = DeviceAttribute.objects.filter(device=device).exclude(name__in=list(values)).count()
    if kept + len(values) > MAX_PER_DEVICE:
        return False
    DeviceAttribute.objects.bulk_create(
        [
            DeviceAttribute(
                device=device,
                application_id=device.application_id,
                name=name,
                value=value,
                updated_at=now,
            )
            for name, value in values.items()
        ],
        update_conflicts=True,
        unique_fields=["device", "name"],
        update_fields=["value", "updated_at"],
    )
    return True


def delete(device: Device, names: list[str] | None = None) -> int:
    """Delete the named attributes of the device (all of them when ``names`` is None)."""
    rows = DeviceAttribute.objects.filter(device=device)
    if names is not None:
        rows = rows.filter(Q(name__in=names))
    deleted, _ = rows.delete()
    return deleted

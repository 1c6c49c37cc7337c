"""django-q2 entry points of the SMS platform (thin: the work is in the domain modules)."""

from django.apps import apps

from . import provider, quota, receipts


def submit_to_provider(model_label: str, pk: int) -> bool:
    """Submit a new signature or template application to Tencent Cloud."""
    item = apps.get_model(model_label).objects.filter(pk=pk).first()
    return bool(item) and provider.submit(item)


def sync_provider_statuses() -> int:
    return provider.sync_all()


def receipts_sweep() -> dict:
    """Every minute: pull receipts, deliver simulated messages, mark lost sends unknown."""
    return {
        "pulled": receipts.pull_receipts(),
        "simulated_delivered": receipts.deliver_simulated(),
        "unknown": receipts.reconcile_stale(),
    }


def warn_expiring_packages() -> int:
    """Every hour: e-mail the owners of packages whose unused parts are lost within 7 days."""
    return quota.warn_expiring_packages()

"""The vendors' receipt callbacks, under /callbacks/push/ (no session, no CSRF)."""

from django.urls import path

from . import receipt_views

urlpatterns = [
    path("<str:kind>/<str:key>", receipt_views.vendor_receipts, name="push_vendor_receipts"),
]

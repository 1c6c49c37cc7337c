"""Console pages of the push platform, under /a/<account_id>/push/."""

from django.urls import path

from . import views

urlpatterns = [
    path("applications/", views.applications, name="push_applications"),
    path("applications/<int:pk>/", views.application_detail, name="push_application"),
    path(
        "applications/<int:pk>/rotate-secret",
        views.application_rotate,
        name="push_application_rotate",
    ),
    path("devices/", views.devices, name="push_devices"),
    path("devices/<int:pk>/", views.device_detail, name="push_device"),
    path("pushes/", views.pushes, name="push_pushes"),
    path("pushes/new/", views.compose, name="push_compose"),
    path("pushes/<int:pk>/", views.push_detail, name="push_push"),
    path(
        "pushes/<int:pk>/deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="push_delivery",
    ),
]

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from accounts import team_views as accounts_team_views
from accounts import views as accounts_views
from push import channel_api as push_channel_api
from sms import api as sms_api
from sms import views as sms_views

from . import views


class IdConverter:
    """A database id: at most 18 digits, so it always fits a bigint column (a longer one is
    no object of ours: 404, not an overflow in the database driver)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")

api_v1 = [
    path("me", accounts_api.me, name="api-me"),
    path("accounts/", accounts_api.account_list, name="api-account-list"),
    path("accounts/<id:account_id>/", accounts_api.account_detail, name="api-account-detail"),
    path("accounts/<id:account_id>/members/", accounts_api.member_list, name="api-member-list"),
    path(
        "accounts/<id:account_id>/authorization",
        accounts_api.authorization,
        name="api-authorization",
    ),
    path(
        "accounts/<id:account_id>/authorization/confirm",
        sms_api.confirm_authorization,
        name="api-authorization-confirm",
    ),
    path(
        "push/applications/<id:application_id>/channels",
        push_channel_api.channel_list,
        name="api-push-channels",
    ),
    path(
        "push/applications/<id:application_id>/channels/<str:kind>",
        push_channel_api.channel_detail,
        name="api-push-channel",
    ),
    path(
        "push/applications/<id:application_id>/channels/<str:kind>/test",
        push_channel_api.channel_test,
        name="api-push-channel-test",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

console = [
    path("", views.home, name="home"),
    path("keys/", accounts_views.api_keys, name="api_keys"),
    path("invitations/<str:token>/", accounts_team_views.invitation, name="invitation"),
    path("language/", accounts_views.language, name="language"),
    path("keys/<int:key_id>/toggle", accounts_views.api_key_toggle, name="api_key_toggle"),
    path("keys/<int:key_id>/delete", accounts_views.api_key_delete, name="api_key_delete"),
    path("a/<int:account_id>/", views.overview, name="overview"),
    path("a/<int:account_id>/dashboard.json", views.dashboard_series, name="dashboard_series"),
    path(
        "a/<int:account_id>/authorization/",
        accounts_views.authorization,
        name="authorization",
    ),
    path(
        "a/<int:account_id>/authorization/confirm",
        sms_views.authorization_confirm,
        name="authorization_confirm",
    ),
    path(
        "a/<int:account_id>/authorization/revoke",
        accounts_views.authorization_revoke,
        name="authorization_revoke",
    ),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language, for the login page
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/v1/sms/", include("sms.api_urls")),
    path("api/v1/pushes/", include("push.api_urls")),
    path("callbacks/sms/", include("sms.callback_urls")),
    path("callbacks/push/", include("push.receipt_urls")),
    path("a/<int:account_id>/sms/", include("sms.urls")),
    path("a/<int:account_id>/push/", include("push.urls")),
    path("a/<int:account_id>/", include("accounts.urls")),  # team, settings, audit trail
    path("v3/", include("push.tpns.urls")),
    path("sdk/v1/", include("push.sdk_urls")),
    path("healthz", views.healthz, name="healthz"),
    *console,
]

if settings.BENCH_ENDPOINTS:  # the benchmark's reference endpoints, never in production
    urlpatterns.append(path("bench/", include("bench.urls")))

admin.site.site_header = "pushconsole administration"
admin.site.site_title = "pushconsole admin"

# JSON, not Django's HTML pages, for API paths (lib.errors).
handler400 = "lib.errors.bad_request"
handler404 = "lib.errors.not_found"
handler500 = "lib.errors.server_error"

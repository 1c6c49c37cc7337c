from django.contrib import admin

from .models import Account, ApiKeyPair, Membership, TencentCloudAuthorization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "identity", "time_zone", "created_at"]
    list_filter = ["identity"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "account__name"]
    autocomplete_fields = ["user", "account"]


@admin.register(ApiKeyPair)
class ApiKeyPairAdmin(admin.ModelAdmin):
    """Secrets are never shown: only the SecretId and the SecretKey's first characters."""

    list_display = ["secret_id", "user", "name", "masked_secret", "enabled", "last_used_at"]
    list_filter = ["enabled"]
    search_fields = ["secret_id", "user__username", "name"]
    fields = ["user", "name", "secret_id", "masked_secret", "enabled", "created_at", "last_used_at"]
    readonly_fields = ["user", "secret_id", "masked_secret", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # created in the console, where the SecretKey is shown once


@admin.register(TencentCloudAuthorization)
class TencentCloudAuthorizationAdmin(admin.ModelAdmin):
    list_display = ["account", "secret_id", "status", "authorized_by", "authorized_at"]
    list_filter = ["status"]
    search_fields = ["account__name", "secret_id"]
    fields = [
        "account",
        "secret_id",
        "masked_secret_key",
        "status",
        "authorized_by",
        "authorized_at",
        "checked_at",
        "error_code",
        "error_message",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # entered by the account's owners in the console

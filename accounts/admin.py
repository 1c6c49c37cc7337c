from django.contrib import admin

from .models import (
    Account,
    ApiKeyPair,
    AuditEvent,
    Invitation,
    Membership,
    TencentCloudAuthorization,
)


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

    @admin.display(description="SecretKey")
    def masked_secret(self, obj):
        return obj.masked_secret

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

    @admin.display(description="SecretKey")
    def masked_secret_key(self, obj):
        return obj.masked_secret_key

    def has_add_permission(self, request):
        return False  # entered by the account's owners in the console


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are sent, resent and revoked on the account's Team page, where
    each change is in the audit trail. The token exists only in the e-mail."""

    list_display = ["email", "account", "role", "invited_by", "sent_at", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email", "account__name"]
    fields = [
        "account",
        "email",
        "role",
        "invited_by",
        "created_at",
        "sent_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The trail is not edited here (deleting an account deletes its trail with it)."""

    list_display = ["at", "account", "actor_name", "action", "target", "before", "after"]
    list_filter = ["action"]
    search_fields = ["account__name", "actor_name", "target"]
    date_hierarchy = "at"
    fields = [
        "at",
        "account",
        "actor",
        "actor_name",
        "action",
        "target",
        "before",
        "after",
        "detail",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

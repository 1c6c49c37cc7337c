"""Django admin of the push platform, for staff looking into applications, devices and pushes.

Applications are created in the console, which shows the SecretKey once: the admin never shows
it (only its masked form) and cannot create one. Pushes and deliveries are records of what was
sent: read-only here, except that a push not started yet can be canceled.
"""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lib.ids import bigint_id

from .models import Application, Delivery, Device, DeviceAccount, DeviceTag, Push, SweepRun


class NumberSearchMixin:
    """A search term made of digits also matches these integer columns exactly (on their
    indexes, where a text search would cast every row)."""

    number_search_fields: tuple = ()

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if (number := bigint_id(term)) is not None:
            exact = Q()
            for field in self.number_search_fields:
                exact |= Q(**{field: number})
            found |= queryset.filter(exact)
        return found, may_have_duplicates


@admin.register(Application)
class ApplicationAdmin(NumberSearchMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "platform",
        "access_id",
        "access_key",
        "masked_secret",
        "created_at",
    ]
    list_filter = ["platform"]
    search_fields = ["name", "=access_key", "account__name"]
    number_search_fields = ("access_id",)
    list_select_related = ["account"]
    # The sealed secret and its hint are never on the form; the keys cannot be edited here.
    fields = [
        "account",
        "name",
        "platform",
        "package_names",
        "access_id",
        "access_key",
        "masked_secret",
        "secret_rotated_at",
        "created_at",
    ]
    readonly_fields = [
        "account",
        "platform",
        "access_id",
        "access_key",
        "masked_secret",
        "secret_rotated_at",
        "created_at",
    ]

    @admin.display(description="SecretKey")
    def masked_secret(self, obj):
        return obj.masked_secret

    def has_add_permission(self, request):
        return False  # created in the console, where the SecretKey is shown once


class DeviceTagInline(admin.TabularInline):
    model = DeviceTag
    fields = ["tag"]
    extra = 0


class DeviceAccountInline(admin.TabularInline):
    model = DeviceAccount
    fields = ["account_type", "account", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "token",
        "application",
        "platform",
        "notifications_enabled",
        "app_version",
        "last_seen_at",
    ]
    list_filter = ["platform", "channel", "notifications_enabled"]
    search_fields = ["=token", "accounts__account"]
    list_select_related = ["application"]
    raw_id_fields = ["application"]
    # The channel and its token are the device's own registration (the SDK API): shown, not
    # edited here.
    readonly_fields = [
        "created_at",
        "last_seen_at",
        "notifications_changed_at",
        "channel",
        "channel_token",
        "channel_token_at",
        "channel_token_invalid_at",
        "channel_token_invalid_reason",
    ]
    inlines = [DeviceTagInline, DeviceAccountInline]
    show_full_result_count = False

    def save_formset(self, request, form, formset, change):
        # Tags and bindings repeat the device's application (their audience indexes use it).
        for item in formset.save(commit=False):
            item.application_id = form.instance.application_id
            item.save()
        for item in formset.deleted_objects:
            item.delete()
        formset.save_m2m()


@admin.register(Push)
class PushAdmin(NumberSearchMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "application",
        "status",
        "audience_type",
        "title",
        "targets",
        "resend_by_sms",
        "created_at",
    ]
    list_filter = ["status", "audience_type", "resend_by_sms", "message_type"]
    search_fields = ["title", "=idempotency_key", "application__name"]
    number_search_fields = ("id",)
    date_hierarchy = "created_at"
    list_select_related = ["application"]
    raw_id_fields = ["application", "created_by"]
    actions = ["cancel_pushes"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False  # pushes come from /v3/push/app or the console

    @admin.action(description=_("Cancel selected pushes that have not started"))
    def cancel_pushes(self, request, queryset):
        # Conditional on the status, so a push a worker is starting right now is left alone.
        canceled = queryset.filter(status__in=[Push.Status.INIT, Push.Status.WAIT]).update(
            status=Push.Status.CANCELED
        )
        messages.info(
            request,
            ngettext("%(count)s push canceled.", "%(count)s pushes canceled.", canceled)
            % {"count": canceled},
        )


class OutcomeFilter(admin.SimpleListFilter):
    """The known outcomes, without a DISTINCT over the whole deliveries table."""

    title = _("SMS outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return Delivery.Outcome.choices

    def queryset(self, request, queryset):
        return queryset.filter(outcome=self.value()) if self.value() else queryset


@admin.register(Delivery)
class DeliveryAdmin(NumberSearchMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "push",
        "device",
        "state",
        "sent_at",
        "arrived_at",
        "clicked_at",
        "fallback",
        "outcome",
        "outcome_detail",
    ]
    list_filter = ["state", "fallback", OutcomeFilter]
    search_fields = ["=device__token"]
    search_help_text = _("A device token, or a push ID.")
    number_search_fields = ("push_id",)
    list_select_related = ["push", "device"]
    raw_id_fields = ["push", "device"]
    # Counting a large table on every page is slow; the paginator shows "Show all" instead.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by fan-out, the SDK events and the fallback engine only

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SweepRun)
class SweepRunAdmin(admin.ModelAdmin):
    list_display = ["name", "finished_at", "result"]
    readonly_fields = ["name", "finished_at", "result"]

    def has_add_permission(self, request):
        return False

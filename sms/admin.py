"""Django admin of the SMS platform: the review queue, packages, and the records staff look into.

Reviewers (the "Reviewers" group, see ``sms.review``) approve or reject signatures, templates and
identity applications here: bulk actions on the changelist (pending items first, oldest first),
or the Approve / Reject buttons of one item. A decided item is read-only: a change is a new
application. Every decision is on the item's audit trail, shown on its page.

Proof documents (a signature's proof image, an identity application's credential) are private:
they are not under any public URL. The item's page links its ``…/proof/`` view, which streams
the file to staff who may view the item (anonymous and non-staff users are sent to the admin
login, staff without the permission get a 403). An item whose proof is missing cannot be
approved, alone or in bulk (``review.decide``); the reviewer is told which one and why.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, When
from django.http import FileResponse, Http404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import review
from .models import (
    ExemptNumber,
    IdentityApplication,
    Package,
    PackageCharge,
    QuotaAlert,
    RateLimitPolicy,
    ReviewDecision,
    ReviewStatus,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)

APPROVE, REJECT = "_approve", "_reject"
# What a proof is served as, by its first bytes (never by its name: a console upload may be
# anything). Anything else is downloaded as bytes, never shown.
PROOF_KINDS = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"%PDF-": "application/pdf",
}
REASON_HELP = gettext_lazy("Required to reject: the applicant sees it as the review reply.")
REASON_REQUIRED = gettext_lazy("Give a reason to reject: the applicant sees it.")

# The review queue: pending items first, oldest first; then the decided ones, newest first.
PENDING_FIRST = [
    Case(When(status=ReviewStatus.PENDING, then=F("created_at"))).asc(nulls_last=True),
    F("created_at").desc(),
]


class DecisionForm(forms.ModelForm):
    """The change form of a pending item: nothing of the application, just the reason."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=REASON_HELP,
    )

    def clean(self):
        cleaned = super().clean()
        if REJECT in self.data and not cleaned.get("reason", "").strip():
            self.add_error("reason", REASON_REQUIRED)
        if APPROVE in self.data and (why := self.instance.missing_proof()):
            self.add_error(None, _("Not approved: %(why)s") % {"why": why})
        return cleaned


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=REASON_HELP,
        error_messages={"required": REASON_REQUIRED},
    )


class ReviewedAdmin(admin.ModelAdmin):
    """Shared by everything reviewed here; subclasses name their application's fields."""

    change_form_template = "admin/sms/review_change_form.html"
    actions = ["approve_selected", "reject_selected"]
    ordering = PENDING_FIRST
    list_select_related = ["account", "reviewed_by"]
    list_per_page = 50
    application_fields: tuple = ()
    review_fields = (
        "status",
        "review_reply",
        "reviewed_by",
        "reviewed_at",
        "created_by",
        "created_at",
    )
    provider_fields: tuple = ()

    # -- permissions: reviewers decide, they never add, edit or delete applications ----------

    def has_add_permission(self, request):
        return False  # applications come from the console and the API, which send them to review

    def has_change_permission(self, request, obj=None):
        # A decided item is read-only (as at Tencent): a change is a new application.
        return super().has_change_permission(request, obj) and (
            obj is None or obj.status == ReviewStatus.PENDING
        )

    def can_decide(self, request, obj) -> bool:
        return obj is not None and self.has_change_permission(request, obj)

    # -- the change page ----------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": self.application_fields}),
            (_("Review"), {"fields": self.review_fields}),
        ]
        if self.provider_fields:
            fieldsets.append((_("Tencent Cloud"), {"fields": self.provider_fields}))
        fieldsets.append((_("Audit trail"), {"fields": ["audit_trail"]}))
        if self.can_decide(request, obj):
            fieldsets.append((_("Decision"), {"fields": ["reason"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*self.application_fields, *self.review_fields, *self.provider_fields, "audit_trail"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.can_decide(request, obj):
            kwargs["form"] = DecisionForm
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description=gettext_lazy("Audit trail"))
    def audit_trail(self, obj):
        decisions = obj.decisions.select_related("by") if obj and obj.pk else []
        return render_to_string("admin/sms/audit_trail.html", {"decisions": decisions})

    @staticmethod
    def _decision(request) -> bool | None:
        if APPROVE in request.POST:
            return True
        if REJECT in request.POST:
            return False
        return None

    def save_model(self, request, obj, form, change):
        # Never obj.save(): nothing else is editable, and saving a stale copy could undo a
        # decision another reviewer just made.
        approve = self._decision(request)
        if approve is not None:
            obj._decided = review.decide(
                obj, approve=approve, by=request.user, reason=form.cleaned_data.get("reason", "")
            )

    def construct_change_message(self, request, form, formsets, add=False):
        if getattr(form.instance, "_decided", False):
            return f"{form.instance.get_status_display()}. {form.instance.review_reply}".strip()
        return super().construct_change_message(request, form, formsets, add)

    def response_change(self, request, obj):
        approve = self._decision(request)
        if approve is None:
            return super().response_change(request, obj)
        if obj._decided:
            self.message_user(
                request,
                _("%(item)s — %(status)s.")
                % {"item": obj, "status": obj.get_status_display().lower()},
            )
        else:
            self.message_user(
                request,
                _("%(item)s was no longer pending (someone decided meanwhile); nothing changed.")
                % {"item": obj},
                messages.WARNING,
            )
        return self.response_post_save_change(request, obj)

    # -- bulk actions -------------------------------------------------------------------------

    def _report(self, request, approved: bool, result: review.Decided) -> None:
        decided, skipped, refused = result
        values = {"count": decided, "items": model_ngettext(self.opts, decided)}
        if approved:
            text = _("Approved %(count)s %(items)s.") % values
        else:
            text = _("Rejected %(count)s %(items)s.") % values
        if skipped:
            text += " " + ngettext(
                "%(count)s skipped: no longer pending.",
                "%(count)s skipped: no longer pending.",
                skipped,
            ) % {"count": skipped}
        self.message_user(
            request, text, messages.WARNING if skipped or refused else messages.SUCCESS
        )
        for why in refused:
            self.message_user(request, _("Not approved: %(why)s") % {"why": why}, messages.ERROR)

    @admin.action(
        description=gettext_lazy("Approve selected %(verbose_name_plural)s"),
        permissions=["change"],
    )
    def approve_selected(self, request, queryset):
        self._report(request, True, review.decide_many(queryset, approve=True, by=request.user))

    @admin.action(
        description=gettext_lazy("Reject selected %(verbose_name_plural)s…"),
        permissions=["change"],
    )
    def reject_selected(self, request, queryset):
        """Ask for the reason on an intermediate page (like the delete confirmation)."""
        form = RejectForm(request.POST if request.POST.get("post") else None)
        if form.is_valid():
            result = review.decide_many(
                queryset, approve=False, by=request.user, reason=form.cleaned_data["reason"]
            )
            self._report(request, False, result)
            return None  # back to the changelist
        pending = list(queryset.pending())
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reject %(items)s") % {"items": self.opts.verbose_name_plural},
            "subtitle": None,
            "opts": self.opts,
            "objects_name": model_ngettext(self.opts, len(pending)),
            "queryset": queryset,
            "pending": pending,
            "skipped": len(queryset) - len(pending),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/sms/reject_selected.html", context)

    @admin.display(boolean=True, description=gettext_lazy("Sendable"))
    def sendable(self, obj):
        return obj.is_sendable

    # -- the proof document, for reviewers only -----------------------------------------------

    def get_urls(self):
        proof = path(
            "<path:object_id>/proof/",
            self.admin_site.admin_view(self.proof_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_proof",
        )
        return [proof, *super().get_urls()]

    def proof_view(self, request, object_id):
        """Stream the item's proof from storage (MEDIA_ROOT) to a reviewer who may view it."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if obj.missing_proof():
            raise Http404(obj.missing_proof())
        document = obj.proof_document
        handle = document.open("rb")
        head = handle.read(8)
        handle.seek(0)
        kind = next((t for magic, t in PROOF_KINDS.items() if head.startswith(magic)), None)
        response = FileResponse(
            handle,
            as_attachment=kind is None,
            filename=f"{self.opts.model_name}-{obj.pk}-proof" + _extension(kind),
            content_type=kind or "application/octet-stream",
        )
        # Private to this reviewer; never cached, never run as a page of this site.
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    @admin.display(description=gettext_lazy("Proof document"))
    def proof_link(self, obj):
        if obj is None or obj.pk is None or obj.proof_document is None:
            return "—"
        if why := obj.missing_proof():
            return format_html('<strong class="errornote">{}</strong>', why)
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_proof",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("View the proof")
        )

    @admin.display(boolean=True, description=gettext_lazy("Proof"))
    def has_proof(self, obj):
        return bool(obj.proof_document)


def _extension(kind: str | None) -> str:
    return {"image/png": ".png", "image/jpeg": ".jpg", "application/pdf": ".pdf"}.get(kind, "")


class ProviderSyncedAdmin(ReviewedAdmin):
    actions = [*ReviewedAdmin.actions, "submit_to_tencent_again"]
    provider_fields = (
        "provider_id",
        "provider_status",
        "provider_reply",
        "provider_error",
        "provider_synced_at",
    )

    @admin.action(
        description=gettext_lazy("Submit selected %(verbose_name_plural)s to Tencent Cloud again"),
        permissions=["change"],
    )
    def submit_to_tencent_again(self, request, queryset):
        queued = review.resubmit_to_provider(queryset)
        self.message_user(
            request,
            _(
                "Queued %(count)s %(items)s for Tencent Cloud. Only items whose submission "
                "failed, of accounts with a confirmed authorization, are retried."
            )
            % {"count": queued, "items": model_ngettext(self.opts, queued)},
            messages.SUCCESS if queued else messages.WARNING,
        )


@admin.register(Signature)
class SignatureAdmin(ProviderSyncedAdmin):
    list_display = [
        "text",
        "account",
        "region",
        "sign_type",
        "has_proof",
        "status",
        "provider_status",
        "sendable",
        "created_at",
        "reviewed_by",
    ]
    list_filter = ["status", "region", "sign_type", "provider_status"]
    search_fields = ["text", "account__name", "provider_id", "remark"]
    application_fields = (
        "account",
        "text",
        "region",
        "sign_type",
        "document_type",
        "purpose",
        "proof_link",
        "remark",
    )


@admin.register(Template)
class TemplateAdmin(ProviderSyncedAdmin):
    list_display = [
        "code",
        "name",
        "account",
        "kind",
        "region",
        "status",
        "provider_status",
        "sendable",
        "created_at",
        "reviewed_by",
    ]
    list_filter = ["status", "region", "kind", "provider_status"]
    search_fields = ["code", "name", "content", "account__name", "provider_id"]
    application_fields = (
        "account",
        "code",
        "name",
        "kind",
        "region",
        "content",
        "param_count",
        "remark",
    )


@admin.register(IdentityApplication)
class IdentityApplicationAdmin(ReviewedAdmin):
    list_display = [
        "company_name",
        "account",
        "account_identity",
        "credential_number",
        "has_proof",
        "status",
        "created_at",
        "reviewed_by",
    ]
    list_filter = ["status", "account__identity"]
    search_fields = ["company_name", "credential_number", "account__name"]
    application_fields = (
        "account",
        "account_identity",
        "company_name",
        "credential_number",
        "proof_link",
    )

    @admin.display(description=gettext_lazy("Account is now"), ordering="account__identity")
    def account_identity(self, obj):
        return obj.account.get_identity_display()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the product (the sending path, the audit trail): looked into here,
    never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    """The audit trail across all items: read-only for everyone."""

    list_display = ["at", "action", "item_link", "content_type", "by", "reason"]
    list_filter = ["action", ("content_type", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["reason", "by__username"]
    date_hierarchy = "at"
    list_select_related = ["by", "content_type"]
    fields = ["at", "action", "item_link", "by", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    @admin.display(description=gettext_lazy("Item"))
    def item_link(self, obj):
        ct = obj.content_type
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[obj.object_id])
        except NoReverseMatch:
            return f"{ct.name} #{obj.object_id}"
        return format_html('<a href="{}">{} #{}</a>', url, ct.name, obj.object_id)


@admin.register(SmsApplication)
class SmsApplicationAdmin(admin.ModelAdmin):
    list_display = ["sdk_app_id", "name", "account", "receipt_mode", "created_at"]
    list_filter = ["receipt_mode"]
    search_fields = ["sdk_app_id", "name", "account__name"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    readonly_fields = ["receipt_token", "created_at"]


@admin.register(RateLimitPolicy)
class RateLimitPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "account",
        "same_content_seconds",
        "hourly_limit",
        "daily_limit",
        "updated_by",
        "updated_at",
    ]
    search_fields = ["account__name"]
    list_select_related = ["account", "updated_by"]
    autocomplete_fields = ["account"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by, obj.updated_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(ExemptNumber)
class ExemptNumberAdmin(admin.ModelAdmin):
    list_display = ["number", "account", "note", "created_at"]
    search_fields = ["number", "account__name", "note"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]


class PackageForm(forms.ModelForm):
    class Meta:
        model = Package
        fields = ["account", "region", "quantity", "valid_from", "valid_until", "note"]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        if start and end and end <= start:
            self.add_error("valid_until", _("A package must end after it starts."))
        return cleaned


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    """Staff sell packages here. Account, region and quantity are fixed once created: a top-up
    is a new package (what was used stays attributed to what was bought)."""

    form = PackageForm
    list_display = [
        "account",
        "region",
        "quantity",
        "used",
        "left",
        "valid_from",
        "valid_until",
        "created_by",
    ]
    list_filter = ["region", "valid_until"]
    search_fields = ["account__name", "note"]
    list_select_related = ["account", "created_by"]
    autocomplete_fields = ["account"]
    date_hierarchy = "valid_until"
    fields = [
        "account",
        "region",
        "quantity",
        "valid_from",
        "valid_until",
        "note",
        "used",
        "left",
        "purchased_at",
        "created_by",
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["account", "region", "quantity"] if obj else []
        return [*fixed, "used", "left", "purchased_at", "created_by"]

    @admin.display(description=gettext_lazy("Left"))
    def left(self, obj):
        return obj.left if obj and obj.pk else "—"

    def has_delete_permission(self, request, obj=None):
        # A package something was charged to is history; let it expire instead.
        return super().has_delete_permission(request, obj) and (obj is None or obj.used == 0)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PackageCharge)
class PackageChargeAdmin(ReadOnlyAdmin):
    list_display = ["at", "package", "message", "amount"]
    list_select_related = ["package", "message"]
    raw_id_fields = ["package", "message"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]


@admin.register(QuotaAlert)
class QuotaAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "region", "level"]
    list_filter = ["level", "region"]
    search_fields = ["account__name"]
    list_select_related = ["account"]


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    """Sent records are evidence: read-only except for superusers."""

    list_display = [
        "created_at",
        "phone_number",
        "account",
        "state",
        "region",
        "template_code",
        "sign_name",
        "fee",
        "charged",
        "reason",
        "simulated",
    ]
    list_filter = ["state", "region", "source_type", "simulated"]
    search_fields = ["phone_number", "serial_no"]
    date_hierarchy = "created_at"
    list_select_related = ["account"]
    raw_id_fields = ["account", "application", "template", "signature", "created_by"]
    # Counting a large table on every page is slow; the paginator shows "Show all" instead.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # SMS records are written by sending, never by hand

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

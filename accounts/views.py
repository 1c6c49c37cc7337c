"""Console pages of the accounts app: API keys, the Tencent Cloud authorization, the user's
language."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from .decorators import account_view
from .forms import ApiKeyForm, AuthorizationForm
from .models import ApiKeyPair, KeyLimitReached, Role, TencentCloudAuthorization
from .preferences import Preference, remember_language


@never_cache
@login_required
def api_keys(request):
    """The user's API key pairs; creating one shows its SecretKey on this response only."""
    new_secret = new_key = None
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new_key, new_secret = ApiKeyPair.objects.issue(request.user, **form.cleaned_data)
        except KeyLimitReached as exc:
            messages.error(request, str(exc))
        else:
            form = ApiKeyForm()
    keys = ApiKeyPair.objects.filter(user=request.user)
    return render(
        request,
        "accounts/api_keys.html",
        {
            "keys": keys,
            "form": form,
            "new_key": new_key,
            "new_secret": new_secret,
            "limit": ApiKeyPair.MAX_PER_USER,
        },
    )


@require_POST
@login_required
def api_key_toggle(request, key_id):
    key = get_object_or_404(ApiKeyPair, pk=key_id, user=request.user)
    key.enabled = not key.enabled
    key.save(update_fields=["enabled"])
    if key.enabled:
        messages.success(request, _("%(key)s enabled.") % {"key": key.secret_id})
    else:
        messages.success(request, _("%(key)s disabled.") % {"key": key.secret_id})
    return redirect("api_keys")


@require_POST
@login_required
def api_key_delete(request, key_id):
    key = get_object_or_404(ApiKeyPair, pk=key_id, user=request.user)
    key.delete()
    messages.success(
        request, _("%(key)s deleted; requests signed with it are refused.") % {"key": key.secret_id}
    )
    return redirect("api_keys")


@sensitive_post_parameters("secret_key")
@account_view()
def authorization(request):
    account = request.account
    auth = account.find_authorization()
    can_change = request.membership.has_role(Role.ADMIN)
    form = AuthorizationForm(request.POST or None)
    if request.method == "POST":
        if not can_change:
            messages.error(request, _("Only owners and admins can change the authorization."))
        elif form.is_valid():
            account.authorize_tencent_cloud(**form.cleaned_data, by=request.user)
            messages.success(
                request, _("Key pair saved. Confirm it to check it with Tencent Cloud.")
            )
            return redirect("authorization", account_id=account.pk)
    return render(
        request,
        "accounts/authorization.html",
        {"auth": auth, "form": form, "can_change": can_change},
    )


@require_POST
@account_view(Role.ADMIN)
def authorization_revoke(request):
    TencentCloudAuthorization.objects.filter(account=request.account).delete()
    messages.success(request, _("Authorization revoked; the key pair is deleted from pushconsole."))
    return redirect("authorization", account_id=request.account.pk)


@require_POST
@login_required
def language(request):
    """The header's language switcher: stores the user's choice ("" = the browser's language)
    and applies it at once; back to the page it was chosen on."""
    chosen = request.POST.get("language", "")
    if chosen and chosen not in dict(settings.LANGUAGES):
        chosen = ""
    Preference.choose(request.user, chosen)
    remember_language(request, chosen)
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        nxt = settings.LOGIN_REDIRECT_URL
    response = redirect(nxt)
    # The login page (after logging out) keeps speaking the chosen language.
    if chosen:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            chosen,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    with translation.override(chosen or translation.get_language()):
        messages.success(request, _("Language saved."))
    return response

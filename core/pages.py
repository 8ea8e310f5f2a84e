"""The pages the account emails link to: plain HTML forms served by Django, no build
step and no script (they work in any mail app's browser).

    /?ref=<code>                   the referral link: join the waitlist with that code
    /confirm-email?token=...       confirm an address (the welcome and confirmation mails)
    /confirm-email-change?token=   finish an email change
    /reset-password                ask for a reset link; ?uid=&token= set the new password

Each page calls the same service as its API endpoint (core/api/account_flows.py,
core/api/waitlist.py) and is throttled with the same scope, per client address.
They speak the browser's language (Accept-Language: English or Russian).
"""

from __future__ import annotations

from functools import wraps
from types import SimpleNamespace

from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.errors import DomainError, ExpiredEmailToken, InvalidPassword, ServiceUnavailable
from core.selectors.waitlist import user_for_code
from core.services import credentials, waitlist
from core.throttles import EmailThrottle, ScopedThrottle

TOO_MANY = _("Too many attempts from here; try again later.")


def _allowed(request, scope: str, throttle_class=ScopedThrottle, attr: str = "throttle_scope"):
    return throttle_class().allow_request(request, SimpleNamespace(**{attr: scope}))


def _page_view(view):
    """never_cache, and a page (503), not a 500, when the rate limits cannot be counted
    (Redis down: the throttle fails closed, core/throttles.py)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceUnavailable as exc:
            return _page(request, "message.html", {"title": gettext("Try again shortly"),
                                                   "message": exc.detail}, 503)

    return never_cache(wrapper)


def _page(request, template: str, context: dict, status: int = 200):
    response = render(request, f"accounts/{template}", context, status=status)
    # The token is in the page's own URL: never send it on as a Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response


@_page_view
@require_http_methods(["GET", "POST"])
def home(request):
    code = (request.GET.get("ref") or "").strip().upper()
    referrer = user_for_code(code) if code else None
    context = {"code": code if referrer is not None else "", "unknown_code": bool(code)
               and referrer is None, "email": ""}
    if request.method == "POST":
        context["email"] = email = request.POST.get("email", "").strip()
        if not _allowed(request, "waitlist_join"):
            return _page(request, "home.html", {**context, "error": TOO_MANY}, 429)
        if not email or "@" not in email or len(email) > 254:
            return _page(request, "home.html",
                         {**context, "error": gettext("Enter your email.")}, 400)
        try:
            waitlist.waitlist_join(email=email, referral_code=context["code"] or None)
        except DomainError as exc:
            return _page(request, "home.html", {**context, "error": exc.detail}, exc.status_code)
        context["joined"] = True
    return _page(request, "home.html", context)


@_page_view
@require_http_methods(["GET", "POST"])
def confirm_email(request):
    token = request.GET.get("token") or request.POST.get("token") or ""
    if not _allowed(request, "link_confirm" if request.method == "GET" else
                    "confirmation_resend"):
        return _page(request, "message.html", {"title": gettext("Slow down"),
                                                "message": TOO_MANY}, 429)
    if request.method == "POST":  # the "send me a new link" button of an expired link
        try:
            credentials.email_confirmation_resend_for_token(token=token)
        except DomainError:
            return _page(request, "confirm_email.html", {"state": "invalid"}, 400)
        return _page(request, "confirm_email.html", {"state": "resent"})
    state = credentials.email_confirmation_state(token=token) if token else "invalid"
    status = 400 if state in ("invalid", "expired") else 200
    return _page(request, "confirm_email.html", {"state": state, "token": token}, status)


@_page_view
@require_http_methods(["GET"])
def confirm_email_change(request):
    if not _allowed(request, "link_confirm"):
        return _page(request, "message.html", {"title": gettext("Slow down"),
                                                "message": TOO_MANY}, 429)
    try:
        user = credentials.email_change_confirm(token=request.GET.get("token", ""))
    except ExpiredEmailToken:
        return _page(request, "message.html", {
            "title": gettext("This link has expired"),
            "message": gettext("Ask for the change again from your account.")}, 400)
    except DomainError as exc:
        return _page(request, "message.html", {"title": gettext("This link does not work"),
                                               "message": exc.detail}, exc.status_code)
    return _page(request, "message.html", {
        "title": gettext("Your email address is changed"),
        "message": gettext("Your account now uses %(email)s. Log in with it from now on.")
        % {"email": user.email}, "app_link": True})


@_page_view
@require_http_methods(["GET", "POST"])
def reset_password(request):
    uid = request.GET.get("uid") or request.POST.get("uid") or ""
    token = request.GET.get("token") or request.POST.get("token") or ""
    if not uid or not token:
        return _reset_request(request)
    context = {"uid": uid, "token": token}
    if request.method == "GET":
        try:
            credentials.password_reset_user(uid=uid, token=token)
        except DomainError as exc:
            return _page(request, "reset_password.html", {"invalid": exc.detail}, 400)
        return _page(request, "reset_password.html", context)
    if not _allowed(request, "link_confirm"):
        return _page(request, "reset_password.html", {**context, "errors": [TOO_MANY]}, 429)
    password = request.POST.get("password", "")
    if password != request.POST.get("password_again", ""):
        return _page(request, "reset_password.html",
                     {**context, "errors": [gettext("The two passwords differ.")]}, 400)
    try:
        credentials.password_reset_confirm(uid=uid, token=token, password=password)
    except InvalidPassword as exc:
        return _page(request, "reset_password.html",
                     {**context, "errors": exc.extra["fields"]["password"]}, 400)
    except DomainError as exc:
        return _page(request, "reset_password.html", {"invalid": exc.detail}, exc.status_code)
    return _page(request, "reset_password.html", {"done": True})


def _reset_request(request):
    if request.method == "GET":
        return _page(request, "reset_request.html", {})
    email = request.POST.get("email", "").strip()
    if not (_allowed(request, "password_reset")
            and _allowed(request, "password_reset_email", EmailThrottle, "email_throttle_scope")):
        return _page(request, "reset_request.html", {"email": email, "error": TOO_MANY}, 429)
    if not email or "@" not in email or len(email) > 254:
        return _page(request, "reset_request.html", {"error": gettext("Enter your email.")}, 400)
    try:
        credentials.password_reset_request(email=email)
    except DomainError as exc:
        return _page(request, "reset_request.html", {"email": email, "error": exc.detail}, 400)
    return _page(request, "reset_request.html", {"sent": True})

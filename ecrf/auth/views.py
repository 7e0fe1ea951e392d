"""Log in and out; server-side sessions that end after a while without activity; passwords: changing one's own,
replacing a one-time password set by an admin, and a forgotten one through an emailed link; the user's own account
page with their personal access tokens for the API (made, listed, revoked)."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from itsdangerous import BadSignature
from werkzeug.local import LocalProxy

from ecrf.api.tokens import DEFAULT_DAYS, create_token, revoke_token, token_history, token_of, tokens_of
from ecrf.auth.models import User
from ecrf.auth.passwords import password_problems
from ecrf.auth.services import (
    LoginAttempt,
    ResetLinkUnusable,
    authenticate,
    complete_password_reset,
    confirm_identity,
    lock_duration,
    max_failures,
    request_password_reset,
    usable_reset,
)
from ecrf.auth.services import (
    change_password as change_password_service,
)
from ecrf.auth.sessions import (
    ACCOUNT_LOCKED,
    IDLE,
    LAST_SEEN,
    LOGOUT,
    SESSION_TOKEN,
    begin_session,
    end_current_session,
    end_session_by_token,
    session_user,
)
from ecrf.clock import now_utc
from ecrf.db import commit_with_retry
from ecrf.extensions import db, login_manager
from ecrf.notify.digest import preview
from ecrf.web import FAILED, Repeated, act, submit
from forms.auth import ChangePasswordForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from forms.tokens import ApiTokenForm

__all__ = ["LAST_SEEN", "bp", "end_idle_session", "locked_message", "locked_out", "require_own_password", "wrong_credentials_message"]

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."

#: `purpose` of the password check on the change-password page.
PASSWORD_CHANGE = "password change"
#: What the forgotten-password page answers to any address, whether or not it has an account.
RESET_REQUESTED = (
    "If an account exists for that address, an email with a link has been sent; the link works once, "
    "for 60 minutes. No email? Check the address and your spam folder, or ask your study's admin."
)
#: Endpoints a user holding a one-time password may still reach (everything else sends them to choose their own).
BEFORE_OWN_PASSWORD = {"auth.change_password", "auth.logout", "static", "bootstrap.static"}
#: What a second click on "Make the token" is told: the token exists once, and its secret went to the first click's page.
TOKEN_REPEATED = (
    "This form had already been sent: the token was made once, and its secret was shown only on the page answering the "
    "first click. If you did not copy it, revoke that token and make a new one."
)
_NUMBERS = {2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine", 10: "Ten"}


@bp.after_request
def no_caching_of_account_pages(response):
    """Log-in and password pages (a reset link's token is in its address) are never kept by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    return response


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user, while this browser's session row is open and the account active (else not logged in)."""
    return session_user(user_id, session.get(SESSION_TOKEN))


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after logging in; anything odd (control characters, a backslash) goes to the worklist."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in target)
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("worklist.index")


def locked_message(until: datetime) -> str:
    """What a locked account is told: until when, in UTC (no site's clock) and in minutes from now."""
    minutes = max(math.ceil((until - now_utc()).total_seconds() / 60), 1)
    return (
        f"Too many failed log-ins: this account is locked until {until.strftime('%Y-%m-%d %H:%M')} UTC "
        f"(in {minutes} minute{'s' if minutes != 1 else ''}). Try again then."
    )


def locked_out(until: datetime):
    """A password check just locked the account (or found it locked): this browser's session ends, and the
    log-in page says until when."""
    end_current_session(ACCOUNT_LOCKED)
    db.session.commit()
    flash(locked_message(until), "danger")
    return redirect(url_for("auth.login"))


def wrong_credentials_message() -> str:
    """What every wrong log-in is told, whether or not the account exists: the same words, stating the lockout policy."""
    limit, minutes = max_failures(), int(lock_duration().total_seconds() // 60)
    return f"Email or password is not correct. {_NUMBERS.get(limit, str(limit))} failed log-ins in a row lock an account for {minutes} minutes."


def _log_in(email: str, password: str) -> LoginAttempt:
    attempt = authenticate(email, password)
    if attempt.user is not None:
        begin_session(attempt.user)
    return attempt


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password; a new session (cookie and CSRF token) starts."""
    form = LoginForm()
    if form.validate_on_submit():
        attempt = commit_with_retry(db.session, lambda: _log_in(form.email.data, form.password.data))
        if attempt.user is not None:
            if attempt.user.must_change_password:
                return redirect(url_for("auth.change_password", next=request.args.get("next")))
            return redirect(_safe_next(request.args.get("next")))
        if attempt.locked_until is not None:
            form.form_errors.append(locked_message(attempt.locked_until))
        else:
            form.password.errors.append(wrong_credentials_message())
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out: the session ends on the server too, so no copy of its cookie works any more."""
    end_current_session(LOGOUT)
    db.session.commit()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    """Change one's own password: the current one again (wrong answers count toward the lock), the new one twice."""
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        check = confirm_identity(user, form.current_password.data, purpose=PASSWORD_CHANGE)
        if check.locked_until is not None:
            return locked_out(check.locked_until)
        if not check.ok:
            db.session.commit()  # the failure counts toward the lock
            form.current_password.errors.append("Current password: not correct; type the password you use to log in.")
            form.new_password.errors.extend(password_problems(form.new_password.data, user.email, label="New password"))
        elif submit(form, lambda: _new_password(user, form.new_password.data)) is not FAILED:
            flash("Your password is changed. Any other session of your account has ended.", "success")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/change_password.html", form=form, one_time=user.must_change_password)


@bp.route("/account")
def account():
    """The user's own account: the password, and personal access tokens for the API."""
    return _account_page(ApiTokenForm(days=DEFAULT_DAYS))


def _account_page(form: ApiTokenForm):
    user = current_user._get_current_object()
    return render_template("auth/account.html", form=form, tokens=tokens_of(user), history=token_history(user), now=now_utc())


@bp.route("/account/digest")
def digest_preview():
    """Tomorrow's daily email of the user, as it would be built from the data now (links, counts, subject line)."""
    return render_template("auth/digest_preview.html", preview=preview(current_user._get_current_object(), now_utc()))


@bp.route("/account/tokens", methods=["POST"])
def new_token():
    """Make a personal access token; its secret is shown once, on the page that answers (never stored, never again)."""
    form = ApiTokenForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        made = submit(
            form,
            lambda: create_token(user, form.name.data, form.days.data, read_only=form.read_only.data),
            once=lambda _made: url_for("auth.account"),
        )
        if isinstance(made, Repeated):
            flash(TOKEN_REPEATED, "info")
            return redirect(url_for("auth.account"))
        if made is not FAILED:
            token, secret = made
            # Rendered, not redirected: the secret never enters the session cookie, and is not shown again.
            return render_template("auth/token_created.html", token=token, secret=secret)
    return _account_page(form)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
def revoke_api_token(token_id: int):
    """Revoke one of one's own tokens, after a page asking to confirm; another user's token is not found (404)."""
    token = token_of(current_user._get_current_object(), token_id)
    if token is None:
        abort(404)
    if request.method == "GET":
        return render_template("auth/token_revoke.html", token=token)
    name = token.name
    if act(lambda: revoke_token(token)) is not FAILED:
        flash(f"The token '{name}' is revoked: every request with it is refused from now on.", "info")
    return redirect(url_for("auth.account"))


def _new_password(user: User, password: str) -> None:
    change_password_service(user, password)  # ends every session of the user, this browser's too ...
    begin_session(user)  # ... which starts afresh: a new cookie and CSRF token


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a link to choose a new password; the answer is the same whether or not the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        commit_with_retry(db.session, lambda: request_password_reset(form.email.data))
        flash(RESET_REQUESTED, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through an emailed link (once, within its time)."""
    try:
        reset = usable_reset(token)
    except ResetLinkUnusable as error:
        return _unusable(error)
    user = db.session.get(User, reset.user_id)
    assert user is not None  # usable_reset found the link's user
    email = user.email
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            done = submit(form, lambda: complete_password_reset(token, form.new_password.data))
        except ResetLinkUnusable as error:
            db.session.rollback()
            return _unusable(error)
        if done is not FAILED:
            flash("Your new password is set: log in with it. Every session of your account has ended.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, email=email)


def _unusable(error: ResetLinkUnusable):
    """A link that cannot be used is "not found" (as anything else that is not there), with a page saying why."""
    return render_template("auth/reset_unusable.html", message=str(error), form=ForgotPasswordForm(formdata=None)), 404


def require_own_password():
    """Before each request: a user holding a one-time password (set by an admin) chooses their own before anything else."""
    if request.endpoint in BEFORE_OWN_PASSWORD or not current_user.is_authenticated or not current_user.must_change_password:
        return None
    return redirect(url_for("auth.change_password"))


def end_idle_session():
    """Before each request: end a session idle for ECRF_IDLE_MINUTES or more (on the server too), else note the activity.

    Flask itself refuses a session cookie signed longer ago than PERMANENT_SESSION_LIFETIME (the
    same limit); when it has, and the cookie belonged to a logged-in user, its session row ends and
    the user is told why too.
    """
    if request.endpoint is not None and request.endpoint.endswith("static"):
        return None  # files loaded by a page are not activity of their own
    idle_minutes = current_app.config["ECRF_IDLE_MINUTES"]
    now = now_utc().timestamp()
    if current_user.is_authenticated:
        last_seen = session.get(LAST_SEEN)
        if last_seen is None or now - last_seen < idle_minutes * 60:
            session[LAST_SEEN] = now
            return None
        end_current_session(IDLE)
    else:
        expired = _expired_login_cookie()
        if expired is None:
            return None
        end_session_by_token(expired.get(SESSION_TOKEN), IDLE)
    db.session.commit()
    flash(f"Your session ended after {idle_minutes} minutes without activity. Please log in again.", "warning")
    if request.endpoint == "auth.login":
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


def _expired_login_cookie() -> dict | None:
    """The contents of a logged-in user's session cookie that Flask refused only for its age, else None."""
    if "_user_id" in session:
        return None
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # flask types the proxy as the app it stands for
    raw = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
    if not raw:
        return None
    interface = cast(SecureCookieSessionInterface, app.session_interface)  # Flask's own: the session is a signed cookie
    serializer = interface.get_signing_serializer(app)
    if serializer is None:
        return None
    try:
        data = serializer.loads(raw)  # the signature only, whatever its age
    except BadSignature:
        return None
    return data if isinstance(data, dict) and "_user_id" in data else None

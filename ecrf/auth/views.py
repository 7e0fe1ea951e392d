"""Log in and log out; sessions end after a while without activity."""
from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature

from ecrf.audit.trail import set_actor
from ecrf.auth.models import User
from ecrf.auth.services import authenticate
from ecrf.clock import now_utc
from ecrf.db import commit_with_retry
from ecrf.extensions import db, login_manager
from forms.auth import LoginForm

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."

#: Session key holding the time (UTC, seconds since the epoch) of the user's last request.
LAST_SEEN = "last_seen"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user; a disabled account's open sessions end with the next request."""
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after logging in."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("worklist.index")


def locked_message(until: datetime) -> str:
    """What a locked account is told: until when, in UTC (no site's clock) and in minutes from now."""
    minutes = max(math.ceil((until - now_utc()).total_seconds() / 60), 1)
    return (f"Too many failed log-ins: this account is locked until {until.strftime('%Y-%m-%d %H:%M')} UTC "
            f"(in {minutes} minute{'s' if minutes != 1 else ''}). Try again then.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        attempt = commit_with_retry(db.session, lambda: authenticate(form.email.data, form.password.data))
        if attempt.user is not None:
            login_user(attempt.user)
            set_actor(db.session, attempt.user)
            session[LAST_SEEN] = now_utc().timestamp()
            return redirect(_safe_next(request.args.get("next")))
        if attempt.locked_until is not None:
            form.form_errors.append(locked_message(attempt.locked_until))
        else:
            form.password.errors.append("Email or password is not correct.")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out."""
    logout_user()
    session.pop(LAST_SEEN, None)
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def end_idle_session():
    """Before each request: end a session idle for ECRF_IDLE_MINUTES or more, else note the activity.

    Flask itself refuses a session cookie signed longer ago than PERMANENT_SESSION_LIFETIME (the
    same limit); when it has, and the cookie belonged to a logged-in user, the user is told why too.
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
        logout_user()
    elif not _expired_login_cookie():
        return None
    session.pop(LAST_SEEN, None)
    flash(f"Your session ended after {idle_minutes} minutes without activity. Please log in again.", "warning")
    if request.endpoint == "auth.login":
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


def _expired_login_cookie() -> bool:
    """The request brought a session cookie of a logged-in user that Flask refused only for its age."""
    if "_user_id" in session:
        return False
    app = current_app._get_current_object()
    raw = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app) if raw else None
    if serializer is None:
        return False
    try:
        data = serializer.loads(raw)  # the signature only, whatever its age
    except BadSignature:
        return False
    return "_user_id" in data

"""The admin page: accounts and memberships. Only admins reach it (see `ecrf.admin.services`); others get 404."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ecrf.admin.services import (
    add_membership,
    all_users,
    create_user,
    generated_password,
    is_admin,
    remove_membership,
    set_active,
    set_one_time_password,
    sites,
    studies,
)
from ecrf.auth.models import Membership, User
from ecrf.extensions import db
from ecrf.notify.outbox import failed_emails
from ecrf.web import FAILED, Repeated, act, submit
from forms.admin import CreateUserForm, MembershipForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def only_admins():
    """The admin pages do not exist for anyone but an admin."""
    if not is_admin(current_user):
        abort(404)


@bp.app_context_processor
def admin_link():
    """`may_manage_users()` in templates: whether to show the navbar's Users link."""
    return {"may_manage_users": lambda: is_admin(current_user)}


def _user_or_404(user_id: int) -> User:
    return db.get_or_404(User, user_id)


@bp.route("/users")
def users():
    """Every account: email, name, whether it is active, its memberships."""
    return render_template("admin/users.html", users=all_users())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Create an account; its initial password is shown once, on the page that follows."""
    form = CreateUserForm()
    if form.validate_on_submit():
        password = form.password.data or generated_password()
        user = submit(form, lambda: create_user(form.email.data, form.full_name.data, password), once=lambda user: url_for("admin.user", user_id=user.id))
        if isinstance(user, Repeated):  # a double click: the account exists once; its page can set a new one-time password
            return user.response(url_for("admin.users"))
        if user is not FAILED:
            # Rendered, not redirected: the password never enters the session cookie, and is not shown again.
            return render_template("admin/created.html", user=user, password=password, generated=not form.password.data)
    return render_template("admin/new_user.html", form=form)


def _user_page(user: User, form: MembershipForm | None = None):
    form = form or MembershipForm(formdata=None)
    # An administrator does not give themselves a one-time password (they change their own on the password page).
    own = user.id == current_user.id
    return render_template("admin/user.html", user=user, own_account=own, form=form.fill_choices(studies(), sites()))


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    """One account: its memberships, a form to add one, and disable / re-enable."""
    return _user_page(_user_or_404(user_id))


@bp.route("/users/<int:user_id>/memberships", methods=["POST"], endpoint="add_membership")
def add_membership_view(user_id: int):
    """Give the user a role in a study at a site."""
    user = _user_or_404(user_id)
    form = MembershipForm().fill_choices(studies(), sites())
    if form.validate_on_submit():
        membership = submit(form, lambda: add_membership(user, form.study.data, form.site.data, form.role.data))
        if membership is not FAILED:
            assert isinstance(membership, Membership)  # add_membership's result: submit without `once` never repeats
            flash(f"{user.email} is now {membership.role.label} in {membership.study.short_title} at {membership.site.code}.", "success")
            return redirect(url_for("admin.user", user_id=user.id))
    return _user_page(user, form)


@bp.route("/users/<int:user_id>/memberships/<int:membership_id>/remove", methods=["POST"], endpoint="remove_membership")
def remove_membership_view(user_id: int, membership_id: int):
    """Take a role away from the user."""
    user = _user_or_404(user_id)
    membership = db.get_or_404(Membership, membership_id)
    if membership.user_id != user.id:
        abort(404)
    label = f"{membership.role.label} in {membership.study.short_title} at {membership.site.code}"
    if act(lambda: remove_membership(user, membership)) is not FAILED:
        flash(f"{user.email} is no longer {label}.", "info")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int):
    """Disable the account: it can no longer log in. Accounts are never deleted."""
    return _set_active(_user_or_404(user_id), False)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def enable(user_id: int):
    """Re-enable a disabled account."""
    return _set_active(_user_or_404(user_id), True)


@bp.route("/users/<int:user_id>/password", methods=["POST"], endpoint="one_time_password")
def one_time_password(user_id: int):
    """Give the account a new generated one-time password (shown once); the owner must change it at the next log-in."""
    user = _user_or_404(user_id)
    password = generated_password()
    if act(lambda: set_one_time_password(user, password, by=current_user)) is FAILED:
        return redirect(url_for("admin.user", user_id=user.id))
    # Rendered, not redirected: the password never enters the session cookie, and is not shown again.
    return render_template("admin/password_set.html", user=user, password=password)


def _set_active(user: User, active: bool):
    if act(lambda: set_active(user, active, by=current_user)) is not FAILED:
        flash(f"{user.email} is {'active again' if active else 'disabled: it can no longer log in'}.", "info")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/outbox")
def outbox():
    """Emails that could not be sent after every retry, for the admin to act on."""
    return render_template("admin/outbox.html", emails=failed_emails())

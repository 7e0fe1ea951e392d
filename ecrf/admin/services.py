"""User accounts: create, disable and re-enable (never delete), memberships.

Who is an admin: anyone holding a role that `ecrf.access.ALLOWED[Action.MANAGE_USERS]`
names (the admin role) at any study and site. Accounts are not per site, so an admin
manages every account, and assigns memberships for any study at any site that runs
that study, not only the study-sites of their own memberships ("admin: users and
sites", design.md). Everyone else is told the admin pages do not exist (404).

Users are never deleted: an account that must no longer log in is disabled, which
also ends its open sessions; the trail keeps who did what under it. Creating users,
memberships, removing a membership and disabling are data changes, so the audit
trail's session listener records them (with the acting admin); setting a one-time
password also writes a `one_time_password_set` event.

A password an admin sets (the initial one, or a one-time password for someone locked
out) follows the password policy and is one-time: the owner must choose their own at
the next log-in, so that nobody who knew it can act, or sign, as the owner.

Two guards keep the system manageable: an admin cannot disable their own account,
and no change may leave the system without an active admin.
"""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ecrf.access import ALLOWED, Action, can, grants
from ecrf.audit.trail import record_event
from ecrf.auth.emails import ONE_ADDRESS, is_email_address, normalise_email
from ecrf.auth.models import Membership, Role, User
from ecrf.auth.passwords import MIN_LENGTH, password_problems
from ecrf.auth.services import user_by_email
from ecrf.auth.sessions import ACCOUNT_DISABLED, ONE_TIME_PASSWORD, end_sessions
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.studies.models import Site, Study, StudySite

#: Initial passwords are at least this long (typed by the admin or generated): the password policy's minimum.
MIN_PASSWORD_LENGTH = MIN_LENGTH


def is_admin(user) -> bool:
    """Whether `user` may use the admin page: the admin role at any study and site."""
    if not getattr(user, "is_authenticated", False):
        return False
    return any(can(user, Action.MANAGE_USERS, study_id, site_id) for study_id, site_id in grants(user).roles)


def all_users() -> list[User]:
    """Every account, by email, with its memberships."""
    return list(
        db.session.scalars(
            select(User)
            .order_by(User.email)
            .options(
                selectinload(User.memberships).selectinload(Membership.study),
                selectinload(User.memberships).selectinload(Membership.site),
            )
        )
    )


def studies() -> list[Study]:
    """Every study, by code."""
    return list(db.session.scalars(select(Study).order_by(Study.code)))


def sites() -> list[Site]:
    """Every site, by code, with the studies it runs."""
    return list(db.session.scalars(select(Site).order_by(Site.code).options(selectinload(Site.study_sites).selectinload(StudySite.study))))


def generated_password() -> str:
    """A random one-time password (16 characters) that meets the password policy."""
    while True:
        password = secrets.token_urlsafe(12)
        if not password_problems(password):
            return password


def create_user(email: str, full_name: str, password: str) -> User:
    """A new active account with a one-time initial password (the owner chooses their own at the first log-in). Flushes, never commits."""
    email, full_name = normalise_email(email), full_name.strip()
    problems: list[tuple[str | None, str]] = []
    if not is_email_address(email):
        problems.append(("email", f"Email: {ONE_ADDRESS}."))
    elif user_by_email(email) is not None:
        problems.append(("email", f"Email: an account with {email} already exists; accounts are never deleted, so re-enable it instead."))
    if not full_name:
        problems.append(("full_name", "Full name: required; enter the user's name."))
    problems += [("password", message) for message in password_problems(password, email, label="Initial password")]
    if problems:
        raise InvalidInput(problems)
    user = User(email=email, full_name=full_name, active=True, must_change_password=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def add_membership(user: User, study_code: str, site_code: str, role_value: str) -> Membership:
    """Give `user` a role in a study at a site that runs it. Flushes, never commits."""
    study = db.session.scalar(select(Study).where(Study.code == study_code))
    site = db.session.scalar(select(Site).where(Site.code == site_code))
    role = next((r for r in Role if r.value == role_value), None)
    problems: list[tuple[str | None, str]] = []
    if study is None:
        problems.append(("study", "Study: required; choose one of the studies listed."))
    if site is None:
        problems.append(("site", "Site: required; choose one of the sites listed."))
    if role is None:
        problems.append(("role", "Role: required; choose one of " + ", ".join(r.label for r in Role) + "."))
    if problems:
        raise InvalidInput(problems)
    assert study is not None and site is not None and role is not None  # each missing one is a problem above
    runs = db.session.scalar(select(StudySite.id).where(StudySite.study_id == study.id, StudySite.site_id == site.id))
    if runs is None:
        raise InvalidInput.at("site", f"Site: {site.code} does not run {study.short_title}; choose a site that runs it.")
    held = db.session.scalar(
        select(Membership.id).where(
            Membership.user_id == user.id,
            Membership.study_id == study.id,
            Membership.site_id == site.id,
            Membership.role == role,
        )
    )
    if held is not None:
        raise InvalidInput.at("role", f"Role: {user.email} is already {role.label} in {study.short_title} at {site.code}.")
    membership = Membership(user_id=user.id, study_id=study.id, site_id=site.id, role=role)
    db.session.add(membership)
    db.session.flush()
    return membership


def remove_membership(user: User, membership: Membership) -> None:
    """Take a role away (the trail keeps the removed row). Flushes, never commits."""
    if membership.user_id != user.id:
        raise InvalidInput.at(None, "That membership belongs to another user.")
    if membership.role in ALLOWED[Action.MANAGE_USERS] and _active_admins(excluding_membership=membership.id) == 0:
        raise InvalidInput.at(None, "This is the last active admin's admin role: give another account the admin role first.")
    db.session.delete(membership)
    db.session.flush()


def set_active(user: User, active: bool, by: User) -> None:
    """Disable an account (it can no longer log in; its sessions end) or re-enable it. Flushes, never commits."""
    if not active and user.id == by.id:
        raise InvalidInput.at(None, "You cannot disable your own account; another admin can.")
    if not active and _active_admins(excluding_user=user.id) == 0:
        raise InvalidInput.at(None, "This is the last active admin: give another account the admin role first.")
    user.active = active
    if not active:
        end_sessions(user.id, ACCOUNT_DISABLED)
    db.session.flush()


def set_one_time_password(user: User, password: str, by: User) -> None:
    """Give an account (its owner locked out, or the password forgotten) a new one-time password: the lock is
    lifted, its sessions end, and the owner must choose their own at the next log-in. Flushes, never commits."""
    if user.id == by.id:
        raise InvalidInput.at(None, 'This is your own account: change your password with "Password" in the menu instead.')
    problems = password_problems(password, user.email, label="One-time password")
    if problems:
        raise InvalidInput([(None, message) for message in problems])
    user.set_password(password)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    end_sessions(user.id, ONE_TIME_PASSWORD)
    record_event(db.session, "one_time_password_set", object_type="users", object_id=user.id, user=by)
    db.session.flush()


def _active_admins(excluding_user: int | None = None, excluding_membership: int | None = None) -> int:
    """Active accounts holding an admin role, leaving out one account or one membership."""
    stmt = (
        select(func.count(func.distinct(User.id)))
        .join(Membership, Membership.user_id == User.id)
        .where(User.active.is_(True), Membership.role.in_(sorted(ALLOWED[Action.MANAGE_USERS])))
    )
    if excluding_user is not None:
        stmt = stmt.where(User.id != excluding_user)
    if excluding_membership is not None:
        stmt = stmt.where(Membership.id != excluding_membership)
    return db.session.scalar(stmt) or 0

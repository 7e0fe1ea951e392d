"""Authentication."""
from __future__ import annotations

from sqlalchemy import func, select

from ecrf.auth.models import User
from ecrf.extensions import db


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active or not user.check_password(password):
        return None
    return user

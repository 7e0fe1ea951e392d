"""The password policy (NIST SP 800-63B, section 5.1.1.2), as a pure function.

Length is what makes a password hard to guess, so the rules are: at least 12 characters (at most
200, any characters, spaces included), and none of the choices an attacker tries first: only
spaces, one character repeated, the account's email address or its part before the @, or one of
the 30,000 most common passwords. That list is the one shipped with the zxcvbn package (its
"passwords" frequency list), compared without regard to case; no list is downloaded or kept here.
There are no composition rules (a digit, a capital ...) and no forced periodic changes, as
SP 800-63B advises.
"""

from __future__ import annotations

from functools import cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from ecrf.auth.emails import normalise_email

MIN_LENGTH = 12
MAX_LENGTH = 200


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """Whether `password` (in any case) is on the list of common passwords."""
    return password.lower() in _common_passwords() or password.strip().lower() in _common_passwords()


def password_problems(password: str, email: str = "", *, label: str = "Password") -> list[str]:
    """What is wrong with `password` for the account `email`; each message names the field (`label`) and what is allowed."""
    if len(password) < MIN_LENGTH:
        return [f"{label}: at least {MIN_LENGTH} characters (up to {MAX_LENGTH}); a few unrelated words make a long password that is easy to remember."]
    if len(password) > MAX_LENGTH:
        return [f"{label}: at most {MAX_LENGTH} characters."]
    problems = []
    if not password.strip():
        problems.append(f"{label}: not only spaces; use letters, digits or other characters too.")
    elif len(set(password)) == 1:
        problems.append(f"{label}: not one character repeated; choose something harder to guess.")
    address = normalise_email(email) if email else ""
    if address and password.strip().lower() in {address, address.split("@", 1)[0]}:
        problems.append(f"{label}: not the account's email address nor its part before the @; choose something else.")
    if is_common_password(password):
        problems.append(f"{label}: this is one of the most common passwords, which attackers try first; choose another.")
    return problems

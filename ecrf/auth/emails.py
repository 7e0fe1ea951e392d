"""Email addresses as the app accepts them: exactly one address, compared trimmed and in lower case.

The one rule every email field (log-in, forgotten password, a new account) and every service that
takes an address applies. It is meant to catch typing errors and lists of addresses, not to prove
that mail can be delivered: one `@`, a local part, a domain of at least two labels, no spaces,
commas, semicolons, angle brackets, quotes, backslashes or control characters, at most 254
characters (RFC 5321's limit on a path).
"""

from __future__ import annotations

import re

#: The longest address (RFC 5321: 256 octets of path minus the angle brackets).
MAX_LENGTH = 254
#: Characters that never belong in one plain address: separators of lists, quoting, brackets, controls.
_NOT_IN_ADDRESS = r"\s@,;:<>()\[\]\\\"\x00-\x1f\x7f"
EMAIL_PATTERN = re.compile(rf"^[^{_NOT_IN_ADDRESS}]{{1,64}}@[^{_NOT_IN_ADDRESS}.]+(?:\.[^{_NOT_IN_ADDRESS}.]+)+$")
#: What an email field's message asks for.
ONE_ADDRESS = "enter one address, such as name@hospital.org"
#: Stored in the audit trail instead of typed text that is not an address.
NOT_AN_ADDRESS = "(not an email address)"


def normalise_email(email: str) -> str:
    """Emails are compared and stored trimmed and in lower case."""
    return email.strip().lower()


def is_email_address(email: str) -> bool:
    """Whether `email` (once trimmed) is exactly one syntactically valid address."""
    candidate = normalise_email(email)
    return len(candidate) <= MAX_LENGTH and EMAIL_PATTERN.match(candidate) is not None


def email_for_the_record(email: str) -> str:
    """What a permanent record may keep of a typed email: the normalised address, or a fixed marker."""
    return normalise_email(email) if is_email_address(email) else NOT_AN_ADDRESS

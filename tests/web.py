"""A browser-like HTTP client for a running server (the live server of the tests, or any URL):
a cookie jar of its own, and forms posted with the hidden fields of the page they come from
(CSRF token, form key), as a browser posts them. Used by the race tests and `tests/races.py`.
"""

from __future__ import annotations

import re
from html import unescape

import requests

_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
_NAME = re.compile(r'name="([^"]+)"')
_VALUE = re.compile(r'value="([^"]*)"')
_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
_ACTION = re.compile(r'action="([^"]*)"')


class WebUser:
    """One person in one browser, talking to the server at `base`."""

    def __init__(self, base: str, email: str | None = None, password: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.http = requests.Session()
        if email is not None:
            self.log_in(email, password or "")

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.url(path), allow_redirects=True, timeout=60)

    def hidden_fields(self, path: str, action: str | None = None) -> dict[str, str]:
        """The hidden fields of the form on the page at `path` (the one posting to `action`, if given)."""
        return hidden_fields(self.get(path).text, action)

    def post(self, path: str, data: dict, *, hidden: dict[str, str] | None = None, follow: bool = False) -> requests.Response:
        """Post `data` with the given hidden fields (as rendered into the form once: reuse them to post it twice)."""
        return self.http.post(self.url(path), data={**(hidden or {}), **data}, allow_redirects=follow, timeout=60)

    def submit(self, page: str, data: dict, *, action: str | None = None, follow: bool = False) -> requests.Response:
        """Open the page, then post its form (to `action`, default the page itself) with `data`."""
        target = action or page
        return self.post(target, data, hidden=self.hidden_fields(page, action=action or None), follow=follow)

    def log_in(self, email: str, password: str) -> requests.Response:
        response = self.submit("/login", {"email": email, "password": password})
        if response.status_code != 302:
            raise AssertionError(f"log-in as {email} failed: {response.status_code}")
        return response


def hidden_fields(page: str, action: str | None = None) -> dict[str, str]:
    """The hidden fields a browser would post with a form of `page`: the form posting to `action` (a path), or,
    without one, the first form that posts to the page itself (no action), else the page's first form that posts
    (not the navigation's search, a GET form)."""
    forms = _FORM.findall(page)

    def target(form: str) -> str | None:
        found = _ACTION.search(form.split(">", 1)[0])
        return unescape(found.group(1)) if found and found.group(1) else None

    if action is not None:
        chosen = [form for form in forms if (t := target(form)) is not None and t.split("?")[0].endswith(action)][:1]
    else:
        posting = [form for form in forms if 'method="post"' in form.split(">", 1)[0].lower()]
        chosen = [form for form in forms if target(form) is None][:1] or posting[:1] or forms[:1]
    fields: dict[str, str] = {}
    for form in chosen:
        for tag in _HIDDEN.findall(form):
            name, value = _NAME.search(tag), _VALUE.search(tag)
            if name and name.group(1) not in fields:
                fields[name.group(1)] = unescape(value.group(1)) if value else ""
    return fields

"""Named signals a write service sends once its write is made (as indico's `indico.core.signals`).

What follows a write (flags, protocol deviations, the end of follow-up) runs from the receivers
in `ecrf.effects`, connected once when an app is built; no service calls it by hand.

Why signals and not a unit of work that collects touched subjects before commit: a deviation needs
what the user said (the reason a visit is out of window), which no row holds; a signal carries it.
Receivers run synchronously inside `send`, so a side effect happens exactly once per write, in the
write's transaction and at the same moment as before (the caller sees the flags as soon as the
service returns, before any commit); and a before-commit pass would also run for writes that must
not trigger one (the nightly pass's own flags, an investigator's decision on a flag).

blinker (which Flask ships) calls a signal's receivers in no set order, so each signal here has
exactly one receiver, which runs its steps in order.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

entry_saved = _signals.signal(
    "entry-saved",
    doc="""
An instrument entry was saved (a draft or complete, new or changed) and flushed.
*sender*: the `CrfEntry`; *visit*: its `Visit`; *by*: the acting `User` or None.
""",
)

visit_changed = _signals.signal(
    "visit-changed",
    doc="""
A visit was dated or marked missed; the change is set on the visit but not yet flushed.
*sender*: the `Visit`; *previous_date*: its date before (None if it had none); *reason*: the
deviation reason (dated outside its window) or the reason missed; *by*: the acting `User` or None.
""",
)

subject_changed = _signals.signal(
    "subject-changed",
    doc="""
A subject's participation ended (withdrawn, lost to follow-up, died) and was flushed.
*sender*: the `Subject`; *by*: the acting `User` or None.
""",
)

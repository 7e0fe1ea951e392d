"""The protocol in force at run time: each study's loaded version, stored in the database with its digest.

`flask ecrf load-protocols` validates the files and stores each study's protocol as a `ProtocolVersion`
(canonical JSON and its SHA-256); the study's `protocol_sha256` names the version in force. Everything that
runs (windows, instruments, eligibility, safety rules, labels) reads that version through `protocol_for` and
`protocols`, never the files: a file changed on disk is not in force until it is loaded, and then it is in
force whole. `file_changes` tells where the files and the loaded versions differ (`flask ecrf protocols`,
and a warning at start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, g
from sqlalchemy import select

from ecrf.extensions import db
from ecrf.protocols.loader import ProtocolError, load_protocol, load_protocols, protocol_digest
from ecrf.protocols.schema import Protocol
from ecrf.studies.models import ProtocolVersion, Study

#: On `g`: study code -> digest of the version in force, read once per app context (one request sees one version).
_DIGESTS = "_ecrf_protocol_digests"

#: What `file_changes` reports (the wording `flask ecrf protocols` shows).
CHANGED = "changed on disk, not loaded"
NOT_LOADED = "on disk, not loaded"
INVALID = "invalid on disk, not loaded"
MISSING = "file missing"
NO_VERSION = "no stored protocol version: run flask ecrf load-protocols"


class ProtocolNotLoaded(ProtocolError):
    """A study has no stored protocol version in force (a database from before versions were stored)."""


def protocol_files() -> dict[str, Protocol]:
    """The protocol files on disk (ECRF_PROTOCOL_DIR), validated, by study code: what `load-protocols` loads.

    Kept per app until a file's name, size or modification time changes. Nothing that runs reads these.
    """
    directory = Path(current_app.config["ECRF_PROTOCOL_DIR"])
    stamp = (str(directory), tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in sorted(directory.glob("*.yaml"))))
    cached = current_app.extensions.get("ecrf_protocol_files")
    if cached is None or cached[0] != stamp:
        cached = current_app.extensions["ecrf_protocol_files"] = (stamp, load_protocols(directory))
    return cached[1]


def _digests_in_force() -> dict[str, str]:
    """Study code -> digest of its version in force, by code (read once per app context)."""
    digests = g.get(_DIGESTS)
    if digests is None:
        digests = dict(db.session.execute(select(Study.code, Study.protocol_sha256).order_by(Study.code)).tuples().all())
        setattr(g, _DIGESTS, digests)
    return digests


def forget_versions_in_force() -> None:
    """After a load: the next `protocol_for` reads again which version is in force."""
    g.pop(_DIGESTS, None)


def _version(study_code: str, digest: str) -> Protocol:
    """A stored version, validated once per app and digest."""
    cache: dict[str, Protocol] = current_app.extensions.setdefault("ecrf_protocol_versions", {})
    protocol = cache.get(digest)
    if protocol is None:
        document = db.session.scalar(select(ProtocolVersion.document).where(ProtocolVersion.sha256 == digest).limit(1))
        if document is None:
            raise ProtocolNotLoaded(f"{study_code}: {NO_VERSION}")
        protocol = Protocol.model_validate_json(document)
        if protocol_digest(protocol) != digest:
            raise ProtocolError(f"{study_code}: the stored protocol version {digest[:12]} does not match its digest")
        cache[digest] = protocol
    return protocol


def protocol_for(study_code: str) -> Protocol:
    """The protocol in force for a study: its loaded version (KeyError if no such study is loaded)."""
    return _version(study_code, _digests_in_force()[study_code])


def protocols() -> dict[str, Protocol]:
    """The protocol in force for each loaded study, by study code in code order."""
    return {code: _version(code, digest) for code, digest in _digests_in_force().items()}


def versions_in_force() -> dict[str, str]:
    """Study code -> digest (SHA-256) of the protocol version in force, for each loaded study in code order."""
    return dict(_digests_in_force())


@dataclass(frozen=True)
class FileChange:
    """A protocol file on disk that is not the study's version in force (or a study whose version is not stored)."""

    code: str
    file_name: str
    #: One of CHANGED, NOT_LOADED, INVALID, MISSING, NO_VERSION.
    state: str
    loaded_sha256: str | None = None
    file_sha256: str | None = None
    #: Why an invalid file is invalid.
    detail: str = ""

    def message(self) -> str:
        """One line for the log: the file, what differs, and that the loaded version stays in force."""
        if self.state == NOT_LOADED:
            return f"protocol file {self.file_name}: {self.state}; study {self.code} is not in the database until `flask ecrf load-protocols`"
        if self.state == NO_VERSION:
            return f"study {self.code}: {self.state}"
        loaded = f"the loaded version {self.loaded_sha256[:12]}" if self.loaded_sha256 else "the loaded version"
        if self.state == CHANGED:
            what = f"differs from {loaded} of study {self.code} (file {self.file_sha256[:12]})" if self.file_sha256 else f"differs from {loaded}"
        elif self.state == INVALID:
            what = f"is invalid ({self.detail})"
        else:
            what = "is missing"
        return f"protocol file {self.file_name} {what}: {self.state}; {loaded} stays in force until `flask ecrf load-protocols` loads the file whole"


def file_changes() -> list[FileChange]:
    """Where the protocol files on disk differ from the studies' loaded versions, by study code.

    Each file is read on its own, so one invalid file hides nothing about the others; nothing is loaded.
    """
    directory = Path(current_app.config["ECRF_PROTOCOL_DIR"])
    files = {path.stem: path for path in sorted(directory.glob("*.yaml"))}
    loaded = dict(db.session.execute(select(Study.code, Study.protocol_sha256)).tuples().all())
    stored = set(db.session.scalars(select(ProtocolVersion.sha256).where(ProtocolVersion.sha256.in_(loaded.values())))) if loaded else set()
    changes = []
    for code in sorted(set(files) | set(loaded)):
        in_force = loaded.get(code)
        name = files[code].name if code in files else f"{code}.yaml"
        if in_force is not None and in_force not in stored:
            changes.append(FileChange(code, name, NO_VERSION, in_force))
            continue
        if code not in files:
            changes.append(FileChange(code, name, MISSING, in_force))
            continue
        try:
            on_disk = protocol_digest(load_protocol(files[code]))
        except ProtocolError as error:
            changes.append(FileChange(code, name, INVALID, in_force, detail=str(error)))
            continue
        if in_force is None:
            changes.append(FileChange(code, name, NOT_LOADED, None, on_disk))
        elif on_disk != in_force:
            changes.append(FileChange(code, name, CHANGED, in_force, on_disk))
    return changes

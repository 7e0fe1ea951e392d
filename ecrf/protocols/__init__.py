"""Study protocols: YAML files validated by a pydantic schema; at run time each study's loaded version.

The files are read only to be loaded (`flask ecrf load-protocols`) or compared (`file_changes`); what runs
reads the version stored when the study's file was last loaded (`protocol_for`, `protocols`: see store.py).
"""

from __future__ import annotations

from ecrf.protocols.loader import ProtocolError, canonical_json, load_protocol, load_protocols, protocol_digest
from ecrf.protocols.schema import Protocol
from ecrf.protocols.store import (
    FileChange,
    ProtocolNotLoaded,
    file_changes,
    forget_versions_in_force,
    protocol_files,
    protocol_for,
    protocols,
    versions_in_force,
)

__all__ = [
    "FileChange",
    "Protocol",
    "ProtocolError",
    "ProtocolNotLoaded",
    "canonical_json",
    "file_changes",
    "forget_versions_in_force",
    "load_protocol",
    "load_protocols",
    "protocol_digest",
    "protocol_files",
    "protocol_for",
    "protocols",
    "versions_in_force",
]

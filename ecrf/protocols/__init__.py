"""Study protocols: YAML files validated by a pydantic schema, loaded once per app."""
from __future__ import annotations

from flask import current_app

from ecrf.protocols.loader import ProtocolError, load_protocol, load_protocols
from ecrf.protocols.schema import Protocol

__all__ = ["Protocol", "ProtocolError", "load_protocol", "load_protocols", "protocols", "protocol_for"]


def protocols() -> dict[str, Protocol]:
    """The app's protocols by study code, loaded from ECRF_PROTOCOL_DIR on first use."""
    ext = current_app.extensions
    if "ecrf_protocols" not in ext:
        ext["ecrf_protocols"] = load_protocols(current_app.config["ECRF_PROTOCOL_DIR"])
    return ext["ecrf_protocols"]


def protocol_for(study_code: str) -> Protocol:
    """The protocol of one study (KeyError if no such study)."""
    return protocols()[study_code]

"""Reads and validates the protocol files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

from ecrf.protocols.schema import Protocol


class ProtocolError(Exception):
    """A protocol file is unreadable or invalid; the message names the file, the key and the reason."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses a key given twice in one mapping."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def canonical_json(protocol: Protocol) -> str:
    """The protocol's content as canonical JSON: what a loaded version stores and its digest is taken of."""
    return protocol.model_dump_json()


def protocol_digest(protocol: Protocol) -> str:
    """A stable fingerprint (SHA-256) of a protocol's content; comments and layout of the file do not count."""
    return hashlib.sha256(canonical_json(protocol).encode()).hexdigest()


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def read_strict_yaml(text: str) -> object:
    """YAML read safely, a key given twice in one mapping refused (`yaml.YAMLError`); for every YAML file the app
    reads (protocols, import mappings)."""
    return yaml.load(text, Loader=_StrictLoader)


def validation_problems(exc: ValidationError) -> list[str]:
    """A pydantic validation error as "dotted.key: reason" lines (an unknown key says so)."""
    problems = []
    for error in exc.errors():
        key = _key_path(error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        problems.append(f"{key}: {reason}" if key else reason)
    return problems


def load_protocol(path: Path) -> Protocol:
    """Load and validate one protocol file."""
    name = path.name
    try:
        data = read_strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProtocolError(f"{name}: cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"{name}: the file must be a mapping of keys to values")
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"{name}: " + "; ".join(validation_problems(exc))) from None
    if protocol.code != path.stem:
        raise ProtocolError(f"{name}: code: '{protocol.code}' does not match the file name '{path.stem}'")
    return protocol


def load_protocols(directory: str | Path) -> dict[str, Protocol]:
    """All protocol files (*.yaml) in a folder, by study code, in file-name order."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ProtocolError(f"{directory}: no protocol files (*.yaml)")
    return {protocol.code: protocol for protocol in map(load_protocol, files)}

"""A PatchOp's Operations read and resolved (RFC 7644 §3.5.2): op names, paths, values.

`parse_operations` checks every operation before anything is applied: an unknown attribute in
a path is `invalidPath`, a filter in a path is checked against the attribute's sub-attributes
(app/checks.py), an unknown op is `invalidValue`. app/patch.py applies what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import checks, errors, filters, limits, values
from app.checks import Checked
from app.filters import Node
from app.resources import Attribute, ResourceType

# The type of an attribute of an undeclared extension's object: no schema says what it holds,
# so PATCH sets or removes it as sent (app/values.py keeps such objects as sent).
OPAQUE = "opaque"


@dataclass(frozen=True)
class Path:
    """A resolved PATCH path: `[urn:]attr[.sub]` or `attr[filter][.sub]`."""

    urn: str | None
    attribute: Attribute
    sub: Attribute | None = None
    filter: Node | None = None  # as written, for messages and for creating a missing value
    checked: Checked | None = None  # the same filter, checked against the sub-attributes

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attribute.name}" if self.urn else self.attribute.name
        if self.filter is not None:
            text += f"[{self.filter}]"
        return text + (f".{self.sub.name}" if self.sub else "")


@dataclass(frozen=True)
class Operation:
    """One operation: its op, its resolved path (None: a path-less value) and its value."""

    op: str  # add, remove or replace (lower-case)
    path: Path | None
    value: Any


def parse_path(resource_type: ResourceType, text: str) -> Path:
    """Resolve PATCH path text against the resource type's attributes (invalidPath if unknown)."""
    filter_node = None
    head, sub_text = text, None
    if "[" in text:
        head, _, rest = text.partition("[")
        inner, bracket, after = rest.rpartition("]")
        if not bracket or (after and not after.startswith(".")):
            raise errors.InvalidPath(f"cannot read path {text!r}")
        try:
            filter_node = filters.parse(inner)
        except errors.InvalidFilter as exc:
            raise errors.InvalidPath(f"bad filter in path {text!r}: {exc.detail}") from exc
        sub_text = after[1:] or None
    try:
        attr_path = filters.parse_path(head)
    except errors.InvalidFilter as exc:
        raise errors.InvalidPath(f"{text!r} is not an attribute path") from exc
    if sub_text is not None:
        if attr_path.sub is not None:
            raise errors.InvalidPath(f"cannot read path {text!r}")
        attr_path = filters.AttrPath(attr_path.attr, sub_text, attr_path.urn)
    resolved = resource_type.resolve(attr_path)
    if resolved is None:
        if (
            filter_node is None
            and attr_path.urn
            and values.undeclared(resource_type, attr_path.urn)
        ):
            # Entra names a custom attribute `urn:...:<Name>:2.0:User:<attr>` (tests/test_entra.py)
            sub = Attribute(attr_path.sub, OPAQUE) if attr_path.sub else None
            return Path(attr_path.urn, Attribute(attr_path.attr, OPAQUE), sub)
        raise errors.InvalidPath(f"no attribute {head!r} on {resource_type.name}")
    urn, attribute, sub = resolved
    checked = None
    if filter_node is not None:
        # A singular complex attribute with a `value` takes a filter too: Entra removes a
        # manager with `manager[value eq "<id>"]` (the filter selects the one value or none).
        if not attribute.multi_valued and (
            attribute.type != "complex" or "value" not in attribute.sub
        ):
            raise errors.InvalidPath(f"{attribute.name} is not multi-valued; it takes no filter")
        try:
            checked = checks.check_within(attribute, filter_node)
        except errors.InvalidFilter as exc:
            raise errors.InvalidPath(f"bad filter in path {text!r}: {exc.detail}") from exc
    return Path(urn, attribute, sub, filter_node, checked)


def parse_operations(
    resource_type: ResourceType, operations: list[dict[str, Any]]
) -> list[Operation]:
    """Validate a PatchOp's Operations; op names are matched case-insensitively."""
    limits.check_patch(operations)
    parsed = []
    for raw in operations:
        op = str(raw.get("op", "")).lower()
        if op not in ("add", "remove", "replace"):
            raise errors.InvalidValue(f"unknown op {raw.get('op')!r}; use add, remove or replace")
        path_text = raw.get("path")
        extension = _extension(resource_type, path_text)
        if extension is not None:
            parsed.append(_extension_operation(op, extension, raw.get("value")))
            continue
        path = parse_path(resource_type, path_text) if path_text else None
        if path is None and op == "remove":
            raise errors.NoTarget("remove needs a path (RFC 7644 §3.5.2.2)")
        if op != "remove" and "value" not in raw:
            raise errors.InvalidValue(f"{op} needs a value")
        parsed.append(Operation(op, path, raw.get("value")))
    return parsed


def _extension(resource_type: ResourceType, path_text: Any) -> str | None:
    if not isinstance(path_text, str):
        return None
    return next((e for e in resource_type.extensions if e.lower() == path_text.lower()), None)


def _extension_operation(op: str, extension: str, value: Any) -> Operation:
    """The URN of an extension alone as the path: its whole block of attributes.

    `remove` drops the block; `add` and `replace` treat it as a complex attribute, setting the
    attributes in the value and leaving the others (RFC 7644 §3.5.2.1, §3.5.2.3).
    """
    if op == "remove":
        return Operation(op, Path(extension, Attribute(extension, "complex")), None)
    if not isinstance(value, dict):
        raise errors.InvalidValue(f"{op} on {extension} needs an object of its attributes")
    return Operation(op, None, {extension: value})

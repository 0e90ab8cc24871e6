"""PATCH operations (RFC 7644 §3.5.2) applied to a resource's stored form: a pure function.

`apply(resource_type, resource, operations)` returns a new resource (and a new password, which
is write-only and never part of the resource); it never writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app import errors, filters, limits
from app.evaluate import element_matches
from app.filters import And, Compare, Node, Not, Or, ValuePath
from app.resources import Attribute, ResourceType, primaries_of, settle_primary

IGNORED_IN_VALUE = {"schemas", "id", "meta"}


@dataclass(frozen=True)
class Path:
    """A resolved PATCH path: `[urn:]attr[.sub]` or `attr[filter][.sub]`."""

    urn: str | None
    attribute: Attribute
    sub: Attribute | None = None
    filter: Node | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attribute.name}" if self.urn else self.attribute.name
        if self.filter is not None:
            text += f"[{self.filter}]"
        return text + (f".{self.sub.name}" if self.sub else "")


@dataclass(frozen=True)
class Operation:
    op: str  # add, remove or replace (lower-case)
    path: Path | None
    value: Any


@dataclass(frozen=True)
class Result:
    resource: dict[str, Any]
    password: str | None


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
        raise errors.InvalidPath(f"no attribute {head!r} on {resource_type.name}")
    urn, attribute, sub = resolved
    if filter_node is not None:
        if not (attribute.multi_valued and attribute.type == "complex"):
            raise errors.InvalidPath(f"{attribute.name} is not multi-valued; it takes no filter")
        _check_value_filter(filter_node, attribute)
    return Path(urn, attribute, sub, filter_node)


def _check_value_filter(node: Node, attribute: Attribute) -> None:
    """Every name inside `attr[...]` must be one of attr's sub-attributes (else invalidPath)."""
    if isinstance(node, And | Or):
        _check_value_filter(node.left, attribute)
        _check_value_filter(node.right, attribute)
    elif isinstance(node, Not):
        _check_value_filter(node.expr, attribute)
    elif isinstance(node, ValuePath) or node.path.sub or node.path.urn:
        raise errors.InvalidPath(f"{node} inside {attribute.name}[...] must name a sub-attribute")
    elif node.path.attr.lower() not in attribute.sub:
        raise errors.InvalidPath(f"{attribute.name} has no sub-attribute {node.path.attr!r}")


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


def sets_password(operations: list[Operation]) -> bool:
    """Whether any operation may set the write-only `password`."""
    for operation in operations:
        if operation.path is not None and operation.path.attribute.name == "password":
            return True
        value = operation.value
        if (
            operation.path is None
            and isinstance(value, dict)
            and "password" in map(str.lower, value)
        ):
            return True
    return False


def apply(
    resource_type: ResourceType, resource: dict[str, Any], operations: list[Operation]
) -> Result:
    """Apply operations in order to a copy of the resource."""
    state = _State(resource_type, orjson.loads(orjson.dumps(resource)))  # a deep copy, fast
    for operation in operations:
        if operation.path is None:
            state.pathless(operation)
        else:
            state.apply(operation.op, operation.path, operation.value)
    return Result(state.resource, state.password)


class _State:
    def __init__(self, resource_type: ResourceType, resource: dict[str, Any]) -> None:
        self.type, self.resource = resource_type, resource
        self.password: str | None = None

    def pathless(self, operation: Operation) -> None:
        # RFC 7644 §3.5.2.1/3: without a path, the value is an object of attributes to add or
        # replace. Okta sends {"active": false}, or a group's {"id": .., "displayName": ..};
        # read-only attributes in it are ignored (shared/reference/okta.md §4.10).
        if not isinstance(operation.value, dict):
            raise errors.InvalidValue(f"{operation.op} without a path needs an object value")
        for key, value in operation.value.items():
            extension = next((e for e in self.type.extensions if e.lower() == key.lower()), None)
            if extension is not None and isinstance(value, dict):
                for inner_key, inner_value in value.items():
                    self.pathless_attribute(operation.op, f"{extension}:{inner_key}", inner_value)
            elif key.lower() not in IGNORED_IN_VALUE:
                self.pathless_attribute(operation.op, key, value)

    def pathless_attribute(self, op: str, key: str, value: Any) -> None:
        path = parse_path(self.type, key)
        if path.attribute.mutability == "readOnly":
            return
        self.apply(op, path, value)

    def apply(self, op: str, path: Path, value: Any) -> None:
        attribute = path.attribute
        if attribute.name == path.urn:  # the extension's whole block (_extension_operation)
            self.resource.pop(path.urn, None)
            return
        if attribute.mutability == "readOnly" or (path.sub and path.sub.mutability == "readOnly"):
            raise errors.Mutability(f"{path} is read-only")
        if attribute.name == "password" and path.urn is None:
            if op == "remove" or not isinstance(value, str):
                raise errors.InvalidValue("password can only be replaced with a string")
            self.password = value
            return
        container = self.container(path, create=op != "remove")
        if container is None:
            return
        value = coerce(path.sub or attribute, value, whole=path.sub is None and path.filter is None)
        primaries = primaries_of(container.get(attribute.name))
        self.change(op, path, container, value)
        if attribute.multi_valued:
            settle_primary(container.get(attribute.name), primaries)
        self.prune(path)

    def change(self, op: str, path: Path, container: dict[str, Any], value: Any) -> None:
        attribute = path.attribute
        name = attribute.name
        if op == "replace" and value is None:
            op = "remove"
        if path.filter is not None:
            self.filtered(op, path, container, value)
        elif op == "remove":
            self.remove(path, container, value)
        elif path.sub is not None:
            target = container.setdefault(name, {})
            if not isinstance(target, dict):
                raise errors.InvalidValue(f"{name} is not complex")
            target[path.sub.name] = value
        elif attribute.multi_valued:
            values = value if isinstance(value, list) else [value]
            if op == "add":
                current = container.setdefault(name, [])
                current.extend(v for v in values if v not in current)
            else:
                container[name] = list(values)
            if not container[name]:
                del container[name]
        elif attribute.type == "complex":
            if not isinstance(value, dict):
                raise errors.InvalidValue(f"{name} takes an object of sub-attributes")
            # Sub-attributes not in the value are left as they are (RFC 7644 §3.5.2.3).
            merged = {**container.get(name, {}), **value}
            container[name] = {k: v for k, v in merged.items() if v is not None}
        else:
            container[name] = value

    def container(self, path: Path, create: bool) -> dict[str, Any] | None:
        if path.urn is None:
            return self.resource
        if path.urn not in self.resource:
            if not create:
                return None
            self.resource[path.urn] = {}
        block = self.resource[path.urn]
        assert isinstance(block, dict)
        return block

    def remove(self, path: Path, container: dict[str, Any], value: Any) -> None:
        name = path.attribute.name
        if path.sub is not None:
            target = container.get(name)
            if isinstance(target, dict):
                target.pop(path.sub.name, None)
        elif path.attribute.multi_valued and isinstance(value, list) and value:
            # Entra removes listed values without a filter:
            # {"op": "remove", "path": "members", "value": [{"value": id}]}
            doomed = {v.get("value") if isinstance(v, dict) else v for v in value}
            kept = [
                v
                for v in container.get(name, [])
                if (v.get("value") if isinstance(v, dict) else v) not in doomed
            ]
            container[name] = kept
        else:
            container.pop(name, None)

    def filtered(self, op: str, path: Path, container: dict[str, Any], value: Any) -> None:
        assert path.filter is not None
        name, attribute = path.attribute.name, path.attribute
        values = container.get(name, [])
        hits = [
            i
            for i, v in enumerate(values)
            if isinstance(v, dict) and element_matches(path.filter, v, attribute)
        ]
        if not hits:
            created = _from_equality(path.filter) if op == "add" else None
            if created is None:
                raise errors.NoTarget(f"no value matches {path}")
            values = container.setdefault(name, [])
            values.append(created)
            hits = [len(values) - 1]
        if op == "remove" and path.sub is None:
            container[name] = [v for i, v in enumerate(values) if i not in hits]
        elif path.sub is not None:
            for i in hits:
                if op == "remove":
                    values[i].pop(path.sub.name, None)
                else:
                    values[i][path.sub.name] = value
        else:
            if not isinstance(value, dict):
                raise errors.InvalidValue(f"{path} takes an object")
            for i in hits:
                values[i] = dict(value) if op == "replace" else {**values[i], **value}

    def prune(self, path: Path) -> None:
        container = self.resource.get(path.urn) if path.urn else self.resource
        if isinstance(container, dict):
            value = container.get(path.attribute.name)
            if value in ({}, []):
                del container[path.attribute.name]
        if path.urn and self.resource.get(path.urn) == {}:
            del self.resource[path.urn]


def coerce(attribute: Attribute, value: Any, whole: bool = True) -> Any:
    """Booleans sent as strings become booleans: Entra sends `"value": "False"`.

    `whole` says the value is the attribute itself (a list for a multi-valued one) rather than
    one of its values.
    """
    if isinstance(value, list) and attribute.multi_valued and whole:
        return [coerce(attribute, v, whole=False) for v in value]
    if (
        attribute.type == "boolean"
        and isinstance(value, str)
        and value.lower() in ("true", "false")
    ):
        return value.lower() == "true"
    if attribute.type == "complex" and isinstance(value, dict):
        return {
            k: coerce(attribute.sub[k.lower()], v) if k.lower() in attribute.sub else v
            for k, v in value.items()
        }
    return value


def _from_equality(node: Node) -> dict[str, Any] | None:
    """For `add` to `emails[type eq "work"].value` with no match: the value to create."""
    if isinstance(node, Compare) and node.op == "eq" and node.path.sub is None:
        return {node.path.attr: node.value}
    if isinstance(node, And):
        left, right = _from_equality(node.left), _from_equality(node.right)
        if left is not None and right is not None:
            return {**left, **right}
    return None

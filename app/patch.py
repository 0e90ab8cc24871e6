"""PATCH operations (RFC 7644 §3.5.2) applied to a resource's stored form: a pure function.

`apply(resource_type, resource, operations)` takes the operations app/operations.py parsed
and returns a new resource (and a new password, which is write-only and never part of the
resource); it never writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app import errors
from app.evaluate import element_matches
from app.filters import And, Compare, Node
from app.operations import OPAQUE, Operation, Path, parse_path
from app.resources import ResourceType
from app.values import primaries_of, settle_primary, shape, undeclared

IGNORED_IN_VALUE = {"schemas", "id", "meta"}


@dataclass(frozen=True)
class Result:
    """The resource after the operations, and the password they set (None: unchanged)."""

    resource: dict[str, Any]
    password: str | None


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
        # read-only attributes in it are ignored (tests/exchanges/okta/group-push.json).
        if not isinstance(operation.value, dict):
            raise errors.InvalidValue(f"{operation.op} without a path needs an object value")
        for key, value in operation.value.items():
            extension = next((e for e in self.type.extensions if e.lower() == key.lower()), None)
            if extension is not None and isinstance(value, dict):
                for inner_key, inner_value in value.items():
                    if inner_key.lower() not in IGNORED_IN_VALUE:
                        self.pathless_attribute(
                            operation.op, f"{extension}:{inner_key}", inner_value
                        )
            elif isinstance(value, dict) and undeclared(self.type, key):
                for inner_key, inner_value in value.items():
                    self.pathless_attribute(operation.op, f"{key}:{inner_key}", inner_value)
            elif key.lower() not in IGNORED_IN_VALUE:
                self.pathless_attribute(operation.op, key, value)

    def pathless_attribute(self, op: str, key: str, value: Any) -> None:
        path = parse_path(self.type, key)
        if path.attribute.mutability == "readOnly":
            return
        # An attribute set to null, "" or [] in a path-less value is cleared (RFC 7644 §3.5.2.3;
        # Entra's "SCIM_Null_Update" test sends both).
        self.apply("remove" if _empty(value) else op, path, value)

    def apply(self, op: str, path: Path, value: Any) -> None:
        attribute = path.attribute
        if attribute.name == path.urn:  # the extension's whole block (_extension_operation)
            self.resource.pop(path.urn, None)
            return
        if attribute.mutability == "readOnly" or (path.sub and path.sub.mutability == "readOnly"):
            raise errors.Mutability(f"{path} is read-only")
        if attribute.type == OPAQUE and op == "remove" and path.sub is None and path.urn:
            # `remove` of `urn:...:Other` may name an undeclared object itself.
            whole = self.key(f"{path.urn}:{attribute.name}")
            if whole in self.resource and self.key(path.urn) not in self.resource:
                del self.resource[whole]
                return
        if attribute.name == "password" and path.urn is None:
            if op == "remove" or not isinstance(value, str):
                raise errors.InvalidValue("password can only be replaced with a string")
            self.password = value
            return
        value = shape(path.sub or attribute, value, whole=path.sub is None and path.filter is None)
        if op == "replace" and _empty(value):
            op = "remove"  # RFC 7644 §3.5.2.3: replacing with null, "" or [] clears
        if op == "remove" and attribute.required and path.sub is None and path.filter is None:
            # 400 invalidValue, as a PUT without it is. (RFC 7644 §3.5.2.2 names `mutability`
            # for a required attribute that "is removed or becomes unassigned"; this server
            # keeps the scimType its clients and tests have always seen.)
            raise errors.InvalidValue(f"{attribute.name} is required and cannot be removed")
        container = self.container(path, create=op != "remove")
        if container is None:
            return
        primaries = primaries_of(container.get(attribute.name))
        self.change(op, path, container, value)
        if attribute.multi_valued:
            settle_primary(container.get(attribute.name), primaries)
        self.prune(path)

    def change(self, op: str, path: Path, container: dict[str, Any], value: Any) -> None:
        attribute = path.attribute
        name = attribute.name
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
        urn = self.key(path.urn) if path.attribute.type == OPAQUE else path.urn
        if urn not in self.resource:
            if not create:
                return None
            self.resource[urn] = {}
        block = self.resource[urn]
        if not isinstance(block, dict):
            raise errors.InvalidValue(f"{urn} holds no object of attributes")
        return block

    def key(self, urn: str) -> str:
        """The resource's own spelling of an undeclared extension's URN (the letter case it
        was first sent in), or `urn` when the resource has no such object."""
        lowered = urn.lower()
        return next((k for k in self.resource if k.lower() == lowered), urn)

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
        name = path.attribute.name
        if path.attribute.multi_valued:
            self.filtered_values(op, path, container, value)
            return
        # A singular complex attribute: its one value, as a list of one, then back.
        current = container.get(name)
        values = {name: [current] if isinstance(current, dict) else []}
        self.filtered_values(op, path, values, value)
        if values[name]:
            container[name] = values[name][0]
        else:
            container.pop(name, None)

    def filtered_values(self, op: str, path: Path, container: dict[str, Any], value: Any) -> None:
        assert path.filter is not None and path.checked is not None
        name, checked = path.attribute.name, path.checked
        values = container.get(name, [])
        hits = [
            i for i, v in enumerate(values) if isinstance(v, dict) and element_matches(checked, v)
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
        urn = self.key(path.urn) if path.urn else None
        container = self.resource.get(urn) if urn else self.resource
        if isinstance(container, dict):
            value = container.get(path.attribute.name)
            if value in ({}, []):
                del container[path.attribute.name]
        if urn and self.resource.get(urn) == {}:
            del self.resource[urn]


def _from_equality(node: Node) -> dict[str, Any] | None:
    """For `add` to `emails[type eq "work"].value` with no match: the value to create."""
    if isinstance(node, Compare) and node.op == "eq" and node.path.sub is None:
        return {node.path.attr: node.value}
    if isinstance(node, And):
        left, right = _from_equality(node.left), _from_equality(node.right)
        if left is not None and right is not None:
            return {**left, **right}
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []

"""Attribute selection (RFC 7644 §3.4.2.5): the `attributes` and `excludedAttributes` parameters,
and the `returned` characteristic of declared attributes (RFC 7643 §2.2): `never` is never in a
response, `request` only when `attributes` names it, `always` whatever the parameters say.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from app import filters
from app.resources import Registry, ResourceType, registry


@dataclass(frozen=True)
class Selection:
    """What `attributes` / `excludedAttributes` ask for, as (extension URN, attr, sub) triples."""

    include: frozenset[tuple[str | None, str, str | None]] = frozenset()
    exclude: frozenset[tuple[str | None, str, str | None]] = frozenset()
    whole_extensions: frozenset[str] = frozenset()  # extension URNs `attributes` names
    excluded_extensions: frozenset[str] = frozenset()  # extension URNs `excludedAttributes` names
    restricted: bool = False  # `attributes` was given: only what it names (and `always`) returns

    def wants(self, attr: str, urn: str | None = None) -> bool:
        """Whether attribute `attr` (canonical name) appears in the response at all."""
        key = attr.lower()
        if (urn, key, None) in self.exclude or urn in self.excluded_extensions:
            return False
        if not self.restricted:
            return True
        if urn is not None and urn in self.whole_extensions:
            return True
        return any(u == urn and a == key for u, a, _ in self.include)


def parse_selection(
    resource_type: ResourceType, attributes: str | None, excluded: str | None
) -> Selection:
    """Parse the two query parameters; unknown names are ignored, as RFC 7644 §3.4.2.5 allows."""

    def paths(text: str | None) -> tuple[set[tuple[str | None, str, str | None]], set[str]]:
        triples: set[tuple[str | None, str, str | None]] = set()
        extensions: set[str] = set()
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            whole = resource_type.extension(part)
            if whole is not None:
                extensions.add(whole)
                continue
            try:
                resolved = resource_type.resolve(filters.parse_path(part))
            except Exception:  # a malformed name selects nothing
                resolved = None
            if resolved is not None:
                urn, attribute, sub = resolved
                triples.add((urn, attribute.name.lower(), sub.name.lower() if sub else None))
            elif part[:4].lower() == "urn:":  # an undeclared extension's object, kept as sent
                extensions.add(part.lower())
        return triples, extensions

    include, whole = paths(attributes)
    exclude, excluded_whole = paths(excluded)
    restricted = bool(attributes and attributes.strip())
    return Selection(
        frozenset(include),
        frozenset(exclude),
        frozenset(whole),
        frozenset(excluded_whole),
        restricted,
    )


# Per attribute name (lower case): its `returned` and the sub-attributes never returned.
Rules = dict[str, tuple[str, frozenset[str]]]


def project(
    resource_type: ResourceType, scim: dict[str, Any], selection: Selection
) -> dict[str, Any]:
    """Apply a Selection and the declared `returned` rules to a full SCIM resource."""
    schemas = registry()
    plain = not selection.restricted and not selection.exclude and not selection.excluded_extensions
    if plain and not schemas.declared:
        return scim
    rules = returned_rules(schemas, resource_type.name)
    if plain and not any(urn is None or urn in scim for urn in rules):
        return scim
    if plain and None not in rules:  # only extension objects can change: the rest as it is
        return extensions_projected(scim, selection, rules)
    out: dict[str, Any] = {}
    for key, value in scim.items():
        if key in ("schemas", "id"):
            out[key] = value
        elif key[:4].lower() == "urn:":
            kept = _project_block(value, selection, key, rules.get(key, {}))
            if kept:
                out[key] = kept
        else:
            kept_value = _project_rule(key, value, selection, None, rules.get(None, {}))
            if kept_value is not None:
                out[key] = kept_value
    return out


def extensions_projected(
    scim: dict[str, Any], selection: Selection, rules: dict[str | None, Rules]
) -> dict[str, Any]:
    """A resource (stored or SCIM form) whose extension objects a plain selection and their
    `returned` rules may change, its other attributes left as they are."""
    out: dict[str, Any] = {}
    for key, value in scim.items():
        if key[:4].lower() != "urn:":
            out[key] = value
        elif kept := _project_block(value, selection, key, rules.get(key, {})):
            out[key] = kept
    return out


@cache
def returned_rules(schemas: Registry, type_name: str) -> dict[str | None, Rules]:
    """For each declared schema of a resource type (None: its core schema, when declared), the
    attributes whose `returned` is not `default` or that have sub-attributes never returned."""
    resource_type = schemas.types[type_name]
    urns: list[str | None] = [*resource_type.extensions]
    if resource_type.schema in schemas.declared:
        urns.append(None)
    found: dict[str | None, Rules] = {}
    for urn in urns:
        if urn is not None and urn not in schemas.declared:
            continue
        attributes = schemas.attributes[urn or resource_type.schema]
        rules: Rules = {}
        for name, attribute in attributes.items():
            hidden = frozenset(k for k, s in attribute.sub.items() if s.returned == "never")
            if attribute.returned != "default" or hidden:
                rules[name] = (attribute.returned, hidden)
        if rules:
            found[urn] = rules
    return found


def _project_block(block: Any, selection: Selection, urn: str, rules: Rules) -> Any:
    lowered = urn.lower()
    if not isinstance(block, dict):
        return None if lowered in selection.excluded_extensions else block
    excluded = urn in selection.excluded_extensions or lowered in selection.excluded_extensions
    whole = urn in selection.whole_extensions or lowered in selection.whole_extensions
    out = {}
    for key, value in block.items():
        returned = rules.get(key.lower(), ("default", frozenset()))[0]
        if excluded and returned != "always":
            continue
        if whole and returned == "default":  # the URN named: its block, as returned by default
            kept = _project_rule(key, value, Selection(), urn, rules)
        else:
            kept = _project_rule(key, value, selection, urn, rules)
        if kept is not None:
            out[key] = kept
    return out


def _project_rule(key: str, value: Any, selection: Selection, urn: str | None, rules: Rules) -> Any:
    """One attribute as `returned` and then the selection decide."""
    returned, hidden = rules.get(key.lower(), ("default", frozenset()))
    if returned == "never":
        return None
    if hidden:
        value = _without(value, hidden)
    if returned == "always":
        return value
    if returned == "request" and not any(
        u == urn and a == key.lower() for u, a, _ in selection.include
    ):
        return None
    return _project_attribute(key, value, selection, urn)


def _without(value: Any, hidden: frozenset[str]) -> Any:
    """A complex value (or list of them) without its never-returned sub-attributes."""
    if isinstance(value, list):
        return [_without(v, hidden) for v in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() not in hidden}
    return value


def _project_attribute(key: str, value: Any, selection: Selection, urn: str | None) -> Any:
    lowered = key.lower()
    if (urn, lowered, None) in selection.exclude:
        return None
    subs_included = {s for u, a, s in selection.include if u == urn and a == lowered and s}
    subs_excluded = {s for u, a, s in selection.exclude if u == urn and a == lowered and s}
    if selection.restricted and (urn, lowered, None) not in selection.include and not subs_included:
        return None
    if not (subs_included or subs_excluded):
        return value

    def keep(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {
            k: v
            for k, v in item.items()
            if (not subs_included or k.lower() in subs_included) and k.lower() not in subs_excluded
        }

    if isinstance(value, list):
        items = [keep(v) for v in value]
        return [i for i in items if i] or None
    return keep(value) or None

"""Attribute selection (RFC 7644 §3.4.2.5): the `attributes` and `excludedAttributes` parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import filters
from app.resources import ResourceType


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
            whole = next((e for e in resource_type.extensions if e.lower() == part.lower()), None)
            if whole is not None:
                extensions.add(whole)
                continue
            try:
                resolved = resource_type.resolve(filters.parse_path(part))
            except Exception:  # a malformed name selects nothing
                continue
            if resolved is not None:
                urn, attribute, sub = resolved
                triples.add((urn, attribute.name.lower(), sub.name.lower() if sub else None))
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


def project(
    resource_type: ResourceType, scim: dict[str, Any], selection: Selection
) -> dict[str, Any]:
    """Apply a Selection to a full SCIM resource; `returned: always` attributes always stay."""
    if not selection.restricted and not selection.exclude and not selection.excluded_extensions:
        return scim
    out: dict[str, Any] = {}
    for key, value in scim.items():
        if key in ("schemas", "id"):
            out[key] = value
        elif key in selection.excluded_extensions:
            continue
        elif key in resource_type.extensions:
            kept = _project_block(value, selection, key)
            if kept:
                out[key] = kept
        else:
            kept_value = _project_attribute(key, value, selection, None)
            if kept_value is not None:
                out[key] = kept_value
    return out


def _project_block(block: dict[str, Any], selection: Selection, urn: str) -> dict[str, Any]:
    if urn in selection.whole_extensions:
        return block
    out = {}
    for key, value in block.items():
        kept = _project_attribute(key, value, selection, urn)
        if kept is not None:
            out[key] = kept
    return out


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

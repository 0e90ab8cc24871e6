"""Attribute definitions of a declared Schema document, checked (RFC 7643 §2.1-2.3, §7).

app/extensions.py reads the documents; this module holds each attribute definition to RFC 7643:
known characteristics of the right JSON type and value, and combinations this server can serve
(what it cannot, it says: `uniqueness` on a multi-valued attribute, ...). The definitions come
back with every characteristic spelled out, RFC 7643 §2.2's defaults filled in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TYPES = ("string", "boolean", "decimal", "integer", "dateTime", "reference", "binary", "complex")
# RFC 7643 §2.2: each characteristic, the JSON type it takes, its allowed values and default.
CHARACTERISTICS: dict[str, tuple[type, tuple[Any, ...], Any]] = {
    "name": (str, (), None),
    "type": (str, TYPES, None),
    "multiValued": (bool, (), False),
    "description": (str, (), None),
    "required": (bool, (), False),
    "canonicalValues": (list, (), None),
    "caseExact": (bool, (), False),
    "mutability": (str, ("readOnly", "readWrite", "immutable", "writeOnly"), "readWrite"),
    "returned": (str, ("always", "never", "default", "request"), "default"),
    "uniqueness": (str, ("none", "server", "global"), "none"),
    "referenceTypes": (list, (), None),
    "subAttributes": (list, (), None),
    "indexed": (bool, (), False),
}
# Attributes every resource has (RFC 7643 §3.1): a schema does not declare them.
COMMON_NAMES = frozenset({"id", "externalid", "meta", "schemas"})
ATTRNAME = re.compile(r"[A-Za-z][\w-]*", re.ASCII)  # RFC 7643 §2.1


class SchemaError(Exception):
    """A declared document the server cannot serve: the file and the problem."""


def attributes(file: Path, where: str, found: list[Any], top: bool) -> list[dict[str, Any]]:
    """A list of attribute definitions checked; `top`: an object's, not sub-attributes."""
    checked = [_attribute(file, f"{where}[{n}]", a, top) for n, a in enumerate(found)]
    names = [a["name"].lower() for a in checked]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise SchemaError(f"{file}: {where} names {doubled[0]!r} twice (names ignore case)")
    return checked


def _attribute(file: Path, where: str, attribute: Any, top: bool) -> dict[str, Any]:
    """One attribute definition, each characteristic checked, defaults filled in."""
    if not isinstance(attribute, dict):
        raise SchemaError(f"{file}: {where} must be an object")
    name = attribute.get("name")
    if isinstance(name, str):
        where = f"{where} ({name})"
    only(file, where, attribute, set(CHARACTERISTICS))
    out: dict[str, Any] = {}
    for key, (kind, allowed, default) in CHARACTERISTICS.items():
        value = attribute.get(key, default)
        if value is None:
            continue
        if not isinstance(value, kind) or (allowed and value not in allowed):
            shown = ", ".join(allowed) if allowed else f"a {kind.__name__}"
            raise SchemaError(f"{file}: {where}: {key} {value!r} must be {shown}")
        out[key] = value
    problem = _problem(out, top)
    if problem:
        raise SchemaError(f"{file}: {where}: {problem}")
    if out["mutability"] == "writeOnly":
        out["returned"] = "never"  # RFC 7643 §2.2: a writeOnly attribute is never returned
    if out["type"] == "complex":
        out["subAttributes"] = attributes(
            file, f"{where}.subAttributes", out["subAttributes"], False
        )
    return out


def _problem(attribute: dict[str, Any], top: bool) -> str | None:
    """What is wrong with an attribute's characteristics taken together, if anything."""
    name, kind = attribute.get("name"), attribute.get("type")
    singular = not attribute["multiValued"] and kind != "complex"
    if name is None or kind is None:
        return "an attribute needs a name and a type"
    if not ATTRNAME.fullmatch(name) and not (name == "$ref" and not top):
        return "a name is a letter then letters, digits, '-' or '_' (RFC 7643 §2.1)"
    if top and name.lower() in COMMON_NAMES:
        return f"{name} is a common attribute of every resource (RFC 7643 §3.1)"
    if (kind == "complex") != ("subAttributes" in attribute):
        return "subAttributes go with type complex, and complex needs them"
    if kind == "complex" and not (top and attribute["subAttributes"]):
        return "a complex attribute needs subAttributes and cannot be a sub-attribute"
    if attribute.get("canonicalValues") is not None:
        problem = _canonical_problem(attribute)
        if problem:
            return problem
    if "referenceTypes" in attribute and kind != "reference":
        return "referenceTypes go with type reference"
    if attribute["mutability"] == "writeOnly" and attribute["returned"] not in ("never", "default"):
        return "a writeOnly attribute is returned never"
    if attribute["required"] and attribute["mutability"] == "readOnly":
        return "a readOnly attribute cannot be required: no client can set it"
    if attribute["uniqueness"] != "none" and not (top and singular):
        return "uniqueness is enforced on singular attributes that are not complex"
    if attribute["indexed"] and not (top and singular):
        return "indexed applies to singular attributes that are not complex"
    if not top and attribute["returned"] == "request":
        return "returned request is supported on attributes, not on sub-attributes"
    return None


def _canonical_problem(attribute: dict[str, Any]) -> str | None:
    kinds: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "reference": (str,),
        "integer": (int,),
        "decimal": (int, float),
    }
    wanted = kinds.get(attribute["type"])
    if wanted is None:
        return f"canonicalValues do not apply to type {attribute['type']}"
    values = attribute["canonicalValues"]
    if not values or not all(isinstance(v, wanted) and not isinstance(v, bool) for v in values):
        return f"canonicalValues must be a non-empty list of {attribute['type']} values"
    return None


def only(file: Path, where: str, found: dict[str, Any], allowed: set[str]) -> None:
    """SchemaError for a member of `found` not in `allowed` (a misspelt characteristic)."""
    unknown = sorted(set(found) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise SchemaError(f"{file}: {where}: unknown member {unknown[0]!r} (allowed: {listed})")

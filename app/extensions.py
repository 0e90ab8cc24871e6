"""Schema extensions and resource types declared in SCIM_SCHEMAS_DIR (RFC 7643 §6, §7).

The directory holds `*.json` documents in the forms /Schemas and /ResourceTypes serve: Schema
documents (`id`, `name`, `description`, `attributes`) and ResourceType documents (`id`, `name`,
`endpoint`, `schema`, `schemaExtensions`). A ResourceType named User or Group adds its
`schemaExtensions` to the built-in ones; one with another name declares a read-only resource
type whose records a file supplies (app/entitlements.py). Every document is checked when it is
loaded, at start (its attribute definitions by app/definitions.py): a problem raises
SchemaError naming the file and what is wrong, and the server does not start. What /Schemas
then serves is each declared schema with every characteristic spelled out (RFC 7643 §2.2
defaults filled in), without `indexed`, this server's own key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from app import definitions
from app.definitions import ATTRNAME, SchemaError, only
from app.resources import (
    BUILTIN_EXTENSIONS,
    GROUP,
    RESOURCE_TYPES,
    USER,
    Attribute,
    Registry,
    ResourceType,
    builtin_documents,
)

SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
# A URN the filter grammar (app/filters.py) reads as one word, and safe inside a JSON path.
URN = re.compile(r"urn:[A-Za-z0-9][\w.-]*(:[\w.-]+)+", re.ASCII | re.IGNORECASE)
ENDPOINT = re.compile(r"/[A-Za-z][\w-]*", re.ASCII)
# Endpoints this server already answers (openapi/scim.yaml).
RESERVED_ENDPOINTS = frozenset(
    {"/users", "/groups", "/me", "/bulk", "/schemas", "/resourcetypes", "/serviceproviderconfig"}
)


def load(folder: str | None) -> Registry:
    """The Registry of a directory (None: the built-in schemas only); SchemaError if broken."""
    documents = builtin_documents()
    if folder is None:
        return _registry(documents, dict(BUILTIN_EXTENSIONS), dict(RESOURCE_TYPES))
    path = Path(folder)
    if not path.is_dir():
        raise SchemaError(f"SCIM_SCHEMAS_DIR {folder!r} is not a directory")
    schemas: dict[str, tuple[Path, dict[str, Any]]] = {}
    types: list[tuple[Path, dict[str, Any]]] = []
    for file in sorted(path.glob("*.json")):
        document = _read(file)
        if "attributes" in document:
            checked = _schema_document(file, document)
            if checked["id"] in documents or checked["id"] in schemas:
                raise SchemaError(f"{file}: schema {checked['id']} is already defined")
            schemas[checked["id"]] = (file, checked)
        else:
            types.append((file, _resource_type_document(file, document)))
    return _assemble(path, documents, schemas, types)


def _registry(
    documents: dict[str, dict[str, Any]],
    extensions: dict[str, tuple[str, ...]],
    types: dict[str, ResourceType],
    required: frozenset[tuple[str, str]] = frozenset(),
    declared: frozenset[str] = frozenset(),
    folder: Path | None = None,
) -> Registry:
    attributes = {
        urn: {a["name"].lower(): Attribute.from_schema(a) for a in d["attributes"]}
        for urn, d in documents.items()
    }
    served = {urn: _served(d) for urn, d in documents.items()}
    return Registry(served, attributes, extensions, types, required, declared, folder)


def _served(document: dict[str, Any]) -> dict[str, Any]:
    """A schema document without this server's own `indexed` key."""

    def strip(attribute: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in attribute.items() if k != "indexed"}
        if "subAttributes" in out:
            out["subAttributes"] = [strip(s) for s in out["subAttributes"]]
        return out

    return {**document, "attributes": [strip(a) for a in document["attributes"]]}


def _read(file: Path) -> dict[str, Any]:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SchemaError(f"{file}: not a readable JSON document ({exc})") from exc
    if not isinstance(document, dict):
        raise SchemaError(f"{file}: a Schema or ResourceType document must be a JSON object")
    return document


def _assemble(
    folder: Path,
    documents: dict[str, dict[str, Any]],
    schemas: dict[str, tuple[Path, dict[str, Any]]],
    types: list[tuple[Path, dict[str, Any]]],
) -> Registry:
    """The directory's documents joined to the built-in ones: every schema used, once."""
    extensions = {name: list(urns) for name, urns in BUILTIN_EXTENSIONS.items()}
    required: set[tuple[str, str]] = set()
    resource_types: dict[str, ResourceType] = dict(RESOURCE_TYPES)
    used: dict[str, str] = {}  # schema URN -> what uses it
    for file, document in types:
        name = document["name"]
        if name not in RESOURCE_TYPES:
            if name in resource_types:
                raise SchemaError(f"{file}: resource type {name} is declared twice")
            resource_types[name] = _catalog(file, document, schemas, resource_types, used)
            continue
        for entry in document.get("schemaExtensions", []):
            urn = _known(file, name, entry["schema"], schemas, documents)
            if urn in extensions[name] and urn not in BUILTIN_EXTENSIONS[name]:
                raise SchemaError(f"{file}: {urn} is listed twice for {name}")
            if urn not in extensions[name]:
                extensions[name].append(urn)
            if entry["required"]:
                required.add((name, urn))
            if not used.get(urn, "an extension").startswith("an extension"):
                raise SchemaError(f"{file}: schema {urn} is already {used[urn]}")
            used[urn] = f"an extension of {name}"
    for urn, (file, _) in schemas.items():
        if urn not in used:
            raise SchemaError(
                f"{file}: schema {urn} is used by no resource type; list it in the"
                " schemaExtensions of a ResourceType document named User or Group"
            )
    merged = {**documents, **{urn: d for urn, (_, d) in schemas.items()}}
    frozen = {name: tuple(urns) for name, urns in extensions.items()}
    return _registry(
        merged, frozen, resource_types, frozenset(required), frozenset(schemas), folder
    )


def _known(
    file: Path,
    name: str,
    urn: str,
    schemas: dict[str, tuple[Path, dict[str, Any]]],
    documents: dict[str, dict[str, Any]],
) -> str:
    """A URN a User or Group ResourceType document lists among its extensions, checked."""
    if urn in schemas or urn in BUILTIN_EXTENSIONS[name]:
        return urn
    if urn in documents:
        raise SchemaError(f"{file}: {urn} is built in, and not an extension of {name}")
    raise SchemaError(f"{file}: no Schema document in the directory has the id {urn}")


def _catalog(
    file: Path,
    document: dict[str, Any],
    schemas: dict[str, tuple[Path, dict[str, Any]]],
    resource_types: dict[str, ResourceType],
    used: dict[str, str],
) -> ResourceType:
    """A read-only resource type of its own (app/entitlements.py)."""
    name, endpoint, schema = document["name"], document["endpoint"], document["schema"]
    if document.get("schemaExtensions"):
        raise SchemaError(f"{file}: schemaExtensions are supported on User and Group only")
    if schema not in schemas:
        raise SchemaError(f"{file}: no Schema document in the directory has the id {schema}")
    if used.get(schema, "the schema").startswith("an extension"):
        # Several read-only types may share one schema (Okta's Entitlement: /Entitlements,
        # /Licenses, ...), but a schema is either an extension or a resource type's own.
        raise SchemaError(f"{file}: schema {schema} is already {used[schema]}")
    taken = {t.endpoint.lower() for t in resource_types.values()} | RESERVED_ENDPOINTS
    if endpoint.lower() in taken:
        raise SchemaError(f"{file}: endpoint {endpoint} is already taken")
    used[schema] = f"the schema of {name}"
    return ResourceType(name, endpoint, schema, document.get("description", name))


def _resource_type_document(file: Path, document: dict[str, Any]) -> dict[str, Any]:
    """A ResourceType document (RFC 7643 §6) checked; a User or Group one must match ours."""
    _schemas_member(file, document, RESOURCE_TYPE_URN)
    allowed = {"schemas", "id", "name", "description", "endpoint", "schema", "schemaExtensions"}
    only(file, "the document", document, allowed | {"meta"})
    for key in ("name", "endpoint", "schema"):
        if not isinstance(document.get(key), str):
            raise SchemaError(f"{file}: a ResourceType document needs {key!r} (a string)")
    name = document["name"]
    if not ATTRNAME.fullmatch(name):
        raise SchemaError(f"{file}: name {name!r} must be letters, digits, '-' or '_'")
    if document.get("id", name) != name:
        raise SchemaError(f"{file}: id {document['id']!r} must be the name {name!r}")
    if not isinstance(document.get("description", ""), str):
        raise SchemaError(f"{file}: description must be a string")
    if not ENDPOINT.fullmatch(document["endpoint"]):
        raise SchemaError(f"{file}: endpoint {document['endpoint']!r} must look like /Name")
    builtin = {"User": USER, "Group": GROUP}.get(name)
    if builtin and (document["endpoint"], document["schema"]) != (builtin.endpoint, builtin.schema):
        raise SchemaError(
            f"{file}: the {name} resource type is {builtin.endpoint} with schema {builtin.schema}"
        )
    extensions = document.get("schemaExtensions", [])
    if not isinstance(extensions, list):
        raise SchemaError(f"{file}: schemaExtensions must be a list")
    for n, entry in enumerate(extensions):
        where = f"schemaExtensions[{n}]"
        if not isinstance(entry, dict):
            raise SchemaError(f"{file}: {where} must be an object")
        only(file, where, entry, {"schema", "required"})
        if not isinstance(entry.get("schema"), str) or not isinstance(entry.get("required"), bool):
            raise SchemaError(f"{file}: {where} needs 'schema' (a URN) and 'required' (a boolean)")
    return document


def _schema_document(file: Path, document: dict[str, Any]) -> dict[str, Any]:
    """A Schema document (RFC 7643 §7) checked, with every characteristic spelled out."""
    _schemas_member(file, document, SCHEMA_URN)
    allowed = {"schemas", "id", "name", "description", "attributes", "meta"}
    only(file, "the document", document, allowed)
    urn = document.get("id")
    if not isinstance(urn, str) or not URN.fullmatch(urn):
        raise SchemaError(
            f"{file}: id {urn!r} must be a URN of letters, digits and '.', '-', '_', ':'"
            " (e.g. urn:ietf:params:scim:schemas:extension:acme:2.0:User)"
        )
    for key in ("name", "description"):
        if not isinstance(document.get(key, ""), str):
            raise SchemaError(f"{file}: {key} must be a string")
    attributes = document["attributes"]
    if not isinstance(attributes, list) or not attributes:
        raise SchemaError(f"{file}: attributes must be a non-empty list")
    checked = definitions.attributes(file, "attributes", attributes, top=True)
    return {
        "schemas": [SCHEMA_URN],
        "id": urn,
        "name": document.get("name", urn.rsplit(":", 1)[-1]),
        "description": document.get("description", ""),
        "attributes": checked,
    }


def _schemas_member(file: Path, document: dict[str, Any], urn: str) -> None:
    found = document.get("schemas", [urn])
    if found != [urn]:
        raise SchemaError(f"{file}: schemas must be [{urn!r}], not {found!r}")

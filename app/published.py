"""The published spec: openapi/scim.yaml with the declared extensions and resource types merged in.

openapi/scim.yaml stays hand-maintained; at start the Registry's declared schemas become
components (a request and a response form each) under their URN in the User or Group
schemas, and each read-only resource type becomes two GET paths (app/entitlements.py). The
result is what Connexion validates requests with, what /scim/v2/openapi.json serves, and what
`make spec` writes, so generated clients see the declared attributes. The JSON Schema says
what it can (types, canonicalValues, required, writeOnly never in a response); the rest
(uniqueness, immutability, references) is the server's (app/characteristics.py,
app/indexes.py, app/records.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from app.resources import Registry

# Where an extension's object goes: (request component, response component) per resource type.
TARGETS = {"User": ("UserIn", "User"), "Group": ("GroupIn", "Group")}
BOOLEAN_TEXT = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"
BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
DATETIME = (
    r"^(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
)
SIMPLE = {"string": "string", "reference": "string", "integer": "integer", "decimal": "number"}
LIST_PARAMETERS = ("filter", "startIndex", "count", "attributes", "excludedAttributes")


def merged(base: dict[str, Any], schemas: Registry) -> dict[str, Any]:
    """The base spec with the Registry's declared extensions and resource types."""
    if not schemas.declared:
        return base
    document = copy.deepcopy(base)
    components = document["components"]["schemas"]
    names = _component_names(schemas, set(components))
    for type_name, (request, response) in TARGETS.items():
        for urn in schemas.extensions.get(type_name, ()):
            if urn not in schemas.declared:
                continue
            name = names[urn]
            attributes = schemas.documents[urn]["attributes"]
            components[name] = _object(attributes, request=True)
            components[f"{name}Out"] = _object(attributes, request=False)
            required = (type_name, urn) in schemas.required
            _add(_part(components[request]), urn, name, required)
            _add(_part(components[response]), urn, f"{name}Out", required)
    for catalog in schemas.catalogs.values():
        name = names[catalog.schema]
        attributes = schemas.documents[catalog.schema]["attributes"]
        components[name] = _resource(attributes)
        components[f"{name}List"] = _list(name)
        document["paths"].update(_paths(catalog.name, catalog.endpoint, name))
    return document


def _component_names(schemas: Registry, taken: set[str]) -> dict[str, str]:
    """The spec component of each declared schema: its name, letters and digits only, with a
    number added where the base spec or another schema has that name (with Out and List)."""
    names = {}
    for urn in sorted(schemas.declared):
        base = re.sub(r"[^A-Za-z0-9]", "", str(schemas.documents[urn]["name"])) or "Extension"
        name, n = base, 1
        while {name, f"{name}Out", f"{name}List"} & taken:
            n += 1
            name = f"{base}{n}"
        taken |= {name, f"{name}Out", f"{name}List"}
        names[urn] = name
    return names


def _part(component: dict[str, Any]) -> dict[str, Any]:
    """The object schema of a component that takes properties: its last allOf part, if any."""
    return component["allOf"][-1] if "allOf" in component else component


def _add(target: dict[str, Any], urn: str, component: str, required: bool) -> None:
    target.setdefault("properties", {})[urn] = {"$ref": f"#/components/schemas/{component}"}
    if required:
        target["required"] = [*target.get("required", []), urn]


def _object(attributes: list[dict[str, Any]], request: bool) -> dict[str, Any]:
    """An object of attributes (an extension's, or a complex attribute's sub-attributes)."""
    properties = {
        a["name"]: _property(a, request)
        for a in attributes
        if a["name"] != "$ref"  # CONTRIBUTING.md: Connexion cannot load a "$ref" property
    }
    schema: dict[str, Any] = {"type": "object", "nullable": True, "properties": properties}
    wanted = [a["name"] for a in attributes if a["required"] and a["name"] != "$ref"]
    if request and wanted:
        schema["required"] = wanted
    return schema


def _property(attribute: dict[str, Any], request: bool) -> dict[str, Any]:
    if attribute["returned"] == "never" and not request:
        return {"not": {}}
    if attribute["type"] == "complex":
        value = _object(attribute["subAttributes"], request)
        value.pop("nullable")
    else:
        value = _simple(attribute)
    # null clears an attribute (RFC 7644 §3.5.2.3), which a required one cannot be.
    nullable = not (request and attribute["required"])
    if attribute["multiValued"]:
        value = {"type": "array", "nullable": nullable, "items": value}
    elif "anyOf" in value:
        value["anyOf"][0]["nullable"] = nullable
    else:
        value["nullable"] = nullable
        if "enum" in value and nullable:
            value["enum"] = [*value["enum"], None]  # OpenAPI 3.0.3: null must be listed
    if request and attribute["mutability"] in ("readOnly", "writeOnly"):
        value[attribute["mutability"]] = True
    if "description" in attribute:
        value["description"] = attribute["description"]
    return value


def _simple(attribute: dict[str, Any]) -> dict[str, Any]:
    kind = attribute["type"]
    if kind == "boolean":
        return {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": BOOLEAN_TEXT}]}
    if kind == "binary":
        return {"type": "string", "pattern": BASE64}
    if kind == "dateTime":
        return {"type": "string", "pattern": DATETIME}
    value: dict[str, Any] = {"type": SIMPLE[kind]}
    canonical = attribute.get("canonicalValues")
    if canonical and (attribute["caseExact"] or kind not in ("string", "reference")):
        value["enum"] = list(canonical)
    elif canonical:
        value["pattern"] = "^(" + "|".join(_any_case(v) for v in canonical) + ")$"
    return value


def _any_case(text: str) -> str:
    """A regular expression matching `text` in any letter case (JSON Schema has no flags)."""
    out = []
    for char in text:
        if char.lower() != char.upper():
            out.append(f"[{char.lower()}{char.upper()}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _resource(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """A read-only resource as the server returns it."""
    schema = _object(attributes, request=False)
    schema.pop("nullable")
    schema["required"] = ["schemas", "id"]  # `attributes` may leave the others out
    schema["properties"] = {
        "schemas": {"$ref": "#/components/schemas/Urns"},
        "id": {"type": "string"},
        **schema["properties"],
        "meta": {"$ref": "#/components/schemas/Meta"},
    }
    return schema


def _list(component: str) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": "#/components/schemas/ListHeader"},
            {
                "type": "object",
                "properties": {
                    "Resources": {
                        "type": "array",
                        "items": {"$ref": f"#/components/schemas/{component}"},
                    }
                },
            },
        ]
    }


def _paths(name: str, endpoint: str, component: str) -> dict[str, Any]:
    """GET on the list and on one record. OpenAPI wants one operationId per operation:
    app/entitlements.py answers `search_<name>` and `get_<name>` for every read-only type."""

    def ok(description: str, schema: str) -> dict[str, Any]:
        content = {"application/scim+json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        return {"description": description, "content": content}

    errors = {
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
    }
    selection = [{"$ref": f"#/components/parameters/{p}"} for p in LIST_PARAMETERS[3:]]
    return {
        endpoint: {
            "get": {
                "operationId": f"app.entitlements.search_{name}",
                "summary": f"List or filter {name} records, read-only (RFC 7644 §3.4.2)",
                "tags": [name],
                "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in LIST_PARAMETERS],
                "responses": {
                    "200": ok(f"A page of {name} records.", f"{component}List"),
                    **errors,
                },
            }
        },
        f"{endpoint}/{{record_id}}": {
            "get": {
                "operationId": f"app.entitlements.get_{name}",
                "summary": f"One {name} record (RFC 7644 §3.4.1)",
                "tags": [name],
                "parameters": [
                    {
                        "name": "record_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                    },
                    *selection,
                ],
                "responses": {
                    "200": ok(f"The {name} record.", component),
                    **errors,
                    "404": {"$ref": "#/components/responses/NotFound"},
                },
            }
        },
    }

"""The OpenAPI document, for what the app needs from it besides Connexion's routing.

`document()` is openapi/scim.yaml as maintained; `published_spec()` is the spec this server runs
and serves: that document with the declared extensions and resource types merged in
(app/published.py). Routes, `Allow` lists and schema checks read the published one.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from connexion.json_schema import resolve_refs

from app import errors, published
from app.resources import Registry, registry

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "scim.yaml"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


@cache
def document() -> dict[str, Any]:
    """The spec as loaded from openapi/scim.yaml."""
    loaded = yaml.safe_load(SPEC_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


def published_spec() -> dict[str, Any]:
    """The spec in force: openapi/scim.yaml with the declared schemas of SCIM_SCHEMAS_DIR."""
    return _published(registry())


@cache
def _published(schemas: Registry) -> dict[str, Any]:
    return published.merged(document(), schemas)


def base_path() -> str:
    """The servers[0] URL, e.g. /scim/v2."""
    return str(document()["servers"][0]["url"]).rstrip("/")


@cache
def _templates(schemas: Registry) -> list[tuple[re.Pattern[str], str, tuple[str, ...]]]:
    found = []
    for template, item in _published(schemas)["paths"].items():
        methods = [m.upper() for m in item if m in METHODS]
        if "GET" in methods:
            methods.append("HEAD")
        full = base_path() + template
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(full)) + "$")
        found.append((pattern, full, tuple(sorted(methods))))
    return found


def match(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The spec's path template for a request path, with its methods (GET implies HEAD)."""
    for pattern, template, methods in _templates(registry()):
        if pattern.match(path):
            return template, methods
    return None


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods the spec has for a request path (none for an unknown path)."""
    found = match(path)
    return found[1] if found else ()


@cache
def _validator(schemas: Registry, component: str) -> Any:
    resolved = resolve_refs(_published(schemas))
    schema = json_schema(resolved["components"]["schemas"][component])
    return jsonschema_rs.Draft4Validator(schema)


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: `nullable: true` lets `type` and `enum`
    take null, as Connexion's request validator reads it."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: json_schema(v) for k, v in node.items() if k not in OPENAPI_ONLY}
    if node.get("nullable"):
        if "type" in node:
            converted["type"] = [node["type"], "null"]
        if "enum" in node and None not in node["enum"]:
            converted["enum"] = [*node["enum"], None]
    return converted


OPENAPI_ONLY = {"nullable", "readOnly", "writeOnly", "example", "discriminator", "xml"}


def check(component: str, instance: Any) -> None:
    """Validate a value against a component schema; the first problem is 400 invalidValue.

    PATCH builds a new resource from operations the spec cannot type, so the result is held to
    the same schema a PUT body is.
    """
    validator = _validator(registry(), component)
    if validator.is_valid(instance):  # the errors are worked out on the failing path only
        return
    error = next(iter(validator.iter_errors(instance)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "the resource"
        raise errors.InvalidValue(f"{where}: {error.message}")

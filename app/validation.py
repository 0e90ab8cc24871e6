"""Request bodies and parameters validated against the spec by compiled validators
(jsonschema-rs), not by Connexion's defaults, which build new Python jsonschema validators for
every request (and for every parameter, after a deep copy of its definition) and parse bodies
with the standard `json` module.

Same schema, same rules (OpenAPI 3.0 `nullable`, as Connexion's request validator allows it:
on `type` and `enum`), and every failure is a SCIM error chosen here, where the failing path is
known: a message's `schemas` is `invalidSyntax` (RFC 7644 §3.4.3, §3.5.2, §3.7), a
SearchRequest's `filter` is `invalidFilter`, anything else `invalidValue`; a body that is not
JSON is `invalidSyntax`.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import orjson
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.lifecycle import ConnexionRequest
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator
from connexion.validators import ParameterValidator as ConnexionParameterValidator
from starlette.types import Scope

from app import errors, spec

# Compiled validators by the id of a body's or a parameter's schema (Connexion passes the same
# dict for every request of an operation); the schema is kept alive beside its validator.
_compiled: dict[int, tuple[dict[str, Any], Any]] = {}


def compiled(schema: dict[str, Any]) -> Any:
    """The jsonschema-rs validator of a body's or a parameter's schema, compiled once."""
    found = _compiled.get(id(schema))
    if found is None or found[0] is not schema:
        found = (schema, jsonschema_rs.Draft4Validator(spec.json_schema(schema)))
        _compiled[id(schema)] = found
    return found[1]


class BodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON request body validator, with orjson and a compiled schema."""

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        body = b"".join([message async for message in stream])
        if not body:
            return None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # a json.JSONDecodeError: errors.py says syntax
            raise BadRequestProblem(detail=str(exc)) from exc
        scope.setdefault("state", {})[PARSED_BODY] = parsed
        return parsed

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:
            raise BadRequestProblem("Request body must not be empty")
        validator = compiled(self._schema)
        if not validator.is_valid(body):  # the first error only on the failing path
            raise _scim_error(next(iter(validator.iter_errors(body))))
        return None


# Where the parameter validator leaves the query and path parameters it resolved, and the body
# validator the body it parsed, in the request scope's state, for the handler
# (app/framework.py `DirectCall`, `ValidatedRequest`).
RESOLVED = "scim.resolved_parameters"
PARSED_BODY = "scim.parsed_body"


class ParameterValidator(ConnexionParameterValidator):
    """Connexion's parameter validator (the same checks, strict about unknown query
    parameters), with each parameter's schema compiled once. The parameters it resolved
    (parsed and typed by the operation's URI parser) are kept for the handler, which Connexion
    would otherwise resolve a second time."""

    def validate(self, scope: Scope) -> None:
        """Check the request's parameters; keep them resolved in the scope's state."""
        request = ConnexionRequest(scope, uri_parser=self.uri_parser)
        self.validate_request(request)
        scope.setdefault("state", {})[RESOLVED] = (request.query_params, request.path_params)

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        """None when the value suits the parameter, else what is wrong with it."""
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            validator = compiled(param.get("schema", param))
            if validator.is_valid(value):
                return None
            error = next(iter(validator.iter_errors(value)))
            return f"{error.message} - {param['name']!r}"
        if param.get("required"):
            return f"Missing {parameter_type} parameter {param['name']!r}"
        return None


def _scim_error(error: Any) -> errors.ScimError:
    path = [str(part) for part in error.instance_path]
    where = f" - {'.'.join(path)!r}" if path else ""
    detail = f"{error.message}{where}"
    if path[:1] == ["schemas"] or (not path and _missing(error) == "schemas"):
        return errors.InvalidSyntax(detail)
    if path == ["filter"]:
        return errors.InvalidFilter(detail)
    return errors.InvalidValue(detail)


def _missing(error: Any) -> str:
    """The property a `required` failure names ("" for other failures)."""
    kind = error.kind
    return str(getattr(kind, "property", "")) if type(kind).__name__.endswith("Required") else ""


# Connexion's validator map with the JSON body and parameter validators replaced (responses as
# Connexion validates them, when response validation is on).
VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": ParameterValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": BodyValidator}),
}

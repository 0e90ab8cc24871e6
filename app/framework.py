"""Connexion's request path as this app configures it: what Connexion 3.3 does per request but
depends only on the app is done once (CONTRIBUTING.md, "Connexion behaviours we route around";
bench/README.md has the figures), and JSON goes through orjson. app/main.py plugs these in;
the bearer scheme handler is app/auth.py's `BearerCheck`, the validators app/validation.py's.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import orjson
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import (
    CONTEXT_NAME,
    AsyncParameterDecorator,
    _get_val_from_param,
    pythonic,
    sanitized,
    unwrap_decorators,
)
from connexion.decorators.response import AsyncResponseDecorator
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations.openapi import OpenAPIOperation
from connexion.uri_parsing import OpenAPIURIParser
from connexion.utils import inspect_function_arguments, is_nullable
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app import spec, validation


class FastJsonifier(Jsonifier):
    """Connexion's JSON hook, with orjson: serialising a page of 100 users is a fifth of its
    cost with the standard library (bench/README.md)."""

    def dumps(self, data: Any, **kwargs: Any) -> str:
        """JSON text of a response body."""
        return orjson.dumps(data).decode()

    def loads(self, data: Any) -> Any:
        """A parsed request body; text that is not JSON stays text, as Connexion expects."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return data.decode() if isinstance(data, bytes) else data


class ValidatedRequest(StarletteFramework):
    """Connexion's Starlette framework, whose request for the handler takes the query and
    path parameters the parameter validator resolved (app/validation.py), with the same URI
    parser, instead of resolving them again."""

    @staticmethod
    def get_request(*, scope: Any, receive: Any, uri_parser: Any, **kwargs: Any) -> Any:
        """The handler's request."""
        request = ConnexionRequest(scope, receive, uri_parser=uri_parser)
        resolved = scope.get("state", {}).get(validation.RESOLVED)
        if resolved is not None:
            request._query_params, request._path_params = resolved
        return request


class DecoratorsOnce(StarletteDecorator):
    """Connexion's decorators of an async handler (parameters, response), built once.

    Connexion 3.3 builds them again on every request (`ASGIDecorator.__call__` calls
    `decorate` inside its per-request wrapper, and `AsyncOperation.fn` makes a new decorator
    each time), inspecting the handler's signature each time. What `decorate` returns depends
    only on the handler and the app's settings; the request is read from Connexion's context
    when the wrappers run. So the first result serves every request."""

    _decorated: Any = None
    framework = ValidatedRequest

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return NamesOnce

    def decorate(self, function: Any) -> Any:
        """The handler wrapped in Connexion's decorators, built on the first request."""
        if self._decorated is None:
            self._decorated = super().decorate(function)
        return self._decorated


class NamesOnce(AsyncParameterDecorator):
    """Connexion's parameter decorator with each parameter's Python name (`startIndex` ->
    `start_index`, three regular expressions and inflection's) worked out once per name
    rather than on every request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        named = vars(self)["sanitize_fn"]  # pythonic() or sanitized(), as pythonic_params says
        self.sanitize_fn = functools.lru_cache(maxsize=256)(named)


class DecoratedOnce(AsyncOperation):
    """An operation whose handler goes through one DecoratorsOnce."""

    @functools.cached_property
    def fn(self) -> Any:
        """The handler behind Connexion's per-request wrapper."""
        decorator = DecoratorsOnce(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class DirectCall(DecoratedOnce):
    """An operation that calls its handler as Connexion's decorators would, from what the
    validators left in the request's scope, with what the spec fixes worked out once.

    Connexion's decorators build a request object, inspect the operation's parameters, merge
    defaults and parse the body (again, with the standard `json` module) on every request, then
    infer the response's content type from the operation's responses. Here the handler's
    keyword arguments come from the parameters the parameter validator resolved and the body
    the body validator parsed (app/validation.py), named and typed as Connexion names and types
    them, and a `(body, status, headers)` answer becomes the same Starlette response Connexion
    would build. Whatever this does not cover (a parameter default, a body the validator did
    not parse, a handler taking `**kwargs` or `context_`, an answer of another shape, several
    response media types) goes through Connexion's decorators (DecoratorsOnce) or its response
    decorator unchanged (tests/test_framework.py compares the two)."""

    def __init__(self, *args: Any, operation: OpenAPIOperation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(self._fn))
        name = pythonic if self.pythonic_params else sanitized
        self._path = {
            p["name"]: (name(p["name"]), p) for p in operation.parameters if p["in"] == "path"
        }
        query = [p for p in operation.parameters if p["in"] == "query"]
        self._query = {
            p["name"]: (name(p["name"]), p) for p in query if name(p["name"]) in arguments
        }
        body_name = name(operation.body_name(None)) if operation.is_request_body_defined else ""
        self._body = body_name if body_name in arguments else ""
        produces = set(operation.produces)
        # The content type Connexion gives an answer that names none, when it can infer one.
        self._inferred = len(produces) <= 1
        self._content_type = next(iter(produces)) if len(produces) == 1 else None
        self._direct = (
            not has_kwargs
            and CONTEXT_NAME not in arguments
            and not any(_has_default(p) for p in query)
            and (not operation.is_request_body_defined or bool(self._body))
        )

    @classmethod
    def from_operation(
        cls, operation: Any, *, pythonic_params: bool, jsonifier: Jsonifier
    ) -> DirectCall:
        """The operation of a spec operation (Connexion's factory, keeping the spec's)."""
        return cls(
            operation.function,
            jsonifier=jsonifier,
            operation_id=operation.operation_id,
            pythonic_params=pythonic_params,
            operation=operation,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        """Answer the request: directly when the validators left what the handler needs."""
        state = scope.get("state", {})
        resolved = state.get(validation.RESOLVED)
        body = state.get(validation.PARSED_BODY) if self._body else None
        if not self._direct or resolved is None or (self._body and body is None):
            return await super().__call__(scope, receive, send)
        query, path = resolved
        kwargs: dict[str, Any] = {}
        for key, value in path.items():
            found = self._path.get(key)
            kwargs[found[0] if found else key] = (
                _get_val_from_param(value, found[1]) if found else value
            )
        for key, value in query.items():
            found = self._query.get(key)
            if found is not None:
                kwargs[found[0]] = _get_val_from_param(value, found[1])
        if self._body:
            kwargs[self._body] = body
        answer = await self._fn(**kwargs)
        response = self._response(answer)
        return await response(scope, receive, send)

    def _response(self, answer: Any) -> Response:
        """Connexion's response for a handler's answer (AsyncResponseDecorator), built here
        for a `(dict | list | None, status, headers)` answer without a Content-Type of its
        own, and by Connexion's response decorator for anything else."""
        if isinstance(answer, tuple) and len(answer) == 3 and self._inferred:
            data, status, headers = answer
            if (
                (data is None or isinstance(data, dict | list))
                and isinstance(status, int)
                and isinstance(headers, dict)
                and not any(key.lower() == "content-type" for key in headers)
            ):
                content_type = self._content_type
                if content_type is None and data is not None:
                    content_type = "application/json"  # Connexion's default
                if content_type is not None:
                    headers["Content-Type"] = content_type
                content = None if data is None else orjson.dumps(data)
                status = int(status) or (200 if data is not None else 204)
                return Response(content, status, headers, content_type)
        if isinstance(answer, Response):
            return answer
        if isinstance(answer, ConnexionResponse):
            return cast(Response, StarletteFramework.connexion_to_framework_response(answer))
        decorator = AsyncResponseDecorator(framework=StarletteFramework, jsonifier=self.jsonifier)
        return cast(Response, decorator.build_framework_response(answer))


def _has_default(parameter: dict[str, Any]) -> bool:
    """Whether Connexion would give a query parameter a default (`_get_query_defaults`)."""
    schema = parameter.get("schema", {})
    return "default" in parameter or "default" in schema or schema.get("type") == "object"


class DecoratedOnceApi(AsyncApi):
    """Connexion's API of async operations, each a DirectCall."""

    def make_operation(self, operation: Any) -> AsyncOperation:
        """The operation for a spec operation, its decorators built once."""
        return DirectCall.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


class SpecPagesOnly(SwaggerUIMiddleware):
    """Connexion's Swagger UI middleware, entered only by requests for what it serves: the
    published spec (`<base>/openapi.json`, `.yaml`) and the UI (`<base>/ui/...`). Connexion
    passes every request through its router, a copy of the scope and a context variable to
    hand nearly all of them on unchanged: 6% of a lookup's instructions (bench/README.md)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Its own paths to Connexion's middleware, any other straight to the next app."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        rest = path[len(spec.base_path()) :] if path.startswith(spec.base_path()) else ""
        if not rest.startswith(("/ui", "/openapi.")):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class URIParserOnce(OpenAPIURIParser):
    """Connexion's URI parser of an operation's parameters, with their schemas by name worked
    out once: Connexion 3.3 builds that dictionary again for every query parameter of every
    request (`_make_deep_object`). One parser serves one operation (ValidatorsOnce)."""

    @functools.cached_property
    def param_schemas(self) -> dict[str, Any]:
        """Each parameter's schema by the parameter's name."""
        return {k: v.get("schema", {}) for k, v in self.param_defns.items()}


class ValidatorsOnce(RequestValidationOperation):
    """Connexion's request validation of one operation, with its parameter validator (and
    URI parser) and its body validator per media type and encoding made once.

    Connexion 3.3 makes them again for every request, from the operation's spec, which never
    changes; none of them keeps anything of a request (app/validation.py's do not either). The
    checks and their order are Connexion's: parameters, then the media type, then the body."""

    @functools.cached_property
    def _parameter_validator(self) -> Any:
        operation = self._operation
        # Each parameter once: Connexion 3.3 appends a path's parameters to its operation's own
        # list in the spec in place, once for every middleware that reads the operation (six
        # `user_id`s on PATCH /Users/{user_id}, each validated on every request).
        parameters = list({(p["in"], p["name"]): p for p in operation.parameters}.values())
        parser_class = operation._uri_parser_class
        if parser_class is OpenAPIURIParser:
            parser_class = URIParserOnce
        uri_parser = parser_class(parameters, operation.body_definition())
        return self._validator_map["parameter"](
            parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    @functools.cached_property
    def _body_validators(self) -> dict[tuple[str, str], Any]:
        return {}

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        """The body validator Connexion would make for this media type (None: no body check)."""
        key = (mime_type, encoding)
        if key in self._body_validators:
            return self._body_validators[key]
        operation = self._operation
        validator = None
        schema = operation.body_schema(mime_type)
        try:  # a MediaTypeDict: its [] matches media ranges, its get() does not
            found = self._validator_map["body"][mime_type] if schema else None
        except KeyError:  # Connexion skips the check of a media type it has no validator for
            found = None
        if found is not None:
            validator = found(
                schema=schema,
                required=operation.request_body.get("required", False),
                nullable=is_nullable(operation.body_definition(mime_type)),
                encoding=encoding,
                strict_validation=self.strict_validation,
                uri_parser=operation.uri_parser_class(
                    operation.parameters, operation.body_definition()
                ),
            )
        if len(self._body_validators) < MAX_KEPT_MEDIA_TYPES:  # a client chooses the key
            self._body_validators[key] = validator
        return validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Validate the request's parameters, media type and body, then pass it on."""
        self._parameter_validator.validate(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


MAX_KEPT_MEDIA_TYPES = 16  # body validators kept per operation (ValidatorsOnce)


class ValidatorsOnceApi(RequestValidationAPI):
    """Connexion's request validation API, made of ValidatorsOnce operations."""

    def make_operation(self, operation: Any) -> RequestValidationOperation:
        """The validation of a spec operation, its validators made once."""
        return ValidatorsOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class ValidationOnce(RequestValidationMiddleware):
    """Connexion's request validation middleware, its operations ValidatorsOnce."""

    api_cls = ValidatorsOnceApi


def configure_middlewares(middlewares: list[Any]) -> None:
    """Put this module's middlewares in Connexion's stack in place of Connexion's, once every
    middleware placed relative to them (MiddlewarePosition) has been added: SpecPagesOnly for
    SwaggerUIMiddleware, ValidationOnce for RequestValidationMiddleware."""
    middlewares[middlewares.index(SwaggerUIMiddleware)] = SpecPagesOnly
    middlewares[middlewares.index(RequestValidationMiddleware)] = ValidationOnce


def _body_definition_once() -> None:
    """OpenAPIOperation.body_definition, kept per operation and media type: Connexion 3.3 works
    it out again (a MediaTypeDict over the spec's `content`, the schema's definitions attached)
    each of the seven times a request with a body asks, from a spec that never changes."""
    computed = OpenAPIOperation.body_definition

    @functools.wraps(computed)
    def body_definition(self: OpenAPIOperation, content_type: str | None = None) -> dict[str, Any]:
        kept: dict[str | None, dict[str, Any]] = self.__dict__.setdefault("_body_definitions", {})
        found = kept.get(content_type)
        if found is None:
            found = kept[content_type] = computed(self, content_type)
        return found

    OpenAPIOperation.body_definition = body_definition


_body_definition_once()

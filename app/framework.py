"""Connexion's request path as this app configures it: what Connexion 3.3 does per request but
depends only on the app is done once (CONTRIBUTING.md, "Connexion behaviours we route around";
bench/README.md has the figures), and JSON goes through orjson. app/main.py plugs these in;
the bearer scheme handler is app/auth.py's `BearerCheck`, the validators app/validation.py's.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations.openapi import OpenAPIOperation

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


class DecoratedOnceApi(AsyncApi):
    """Connexion's API of async operations, made of DecoratedOnce operations."""

    def make_operation(self, operation: Any) -> AsyncOperation:
        """The operation for a spec operation, its decorators built once."""
        return DecoratedOnce.from_operation(
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


def serve_spec_pages_only(middlewares: list[Any]) -> None:
    """Put SpecPagesOnly in Connexion's stack in place of SwaggerUIMiddleware, once every
    middleware placed relative to it (MiddlewarePosition.BEFORE_SWAGGER) has been added."""
    middlewares[middlewares.index(SwaggerUIMiddleware)] = SpecPagesOnly


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

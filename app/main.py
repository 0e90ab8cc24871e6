"""Builds the Connexion app: the spec, the middleware, the SCIM error handlers, the database."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import connexion
import orjson
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.exceptions import ProblemException
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.exceptions import HTTPException

from app import auth, config, database, errors, events, indexes, push, records, spec, validation
from app.middleware import RequestNormalizer
from app.observe import Observer
from app.poll import EventsGate
from app.resources import registry
from app.site import Site


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


def create_app(settings: config.Settings | None = None, **overrides: Any) -> connexion.AsyncApp:
    """A ready app: settings from the environment unless given, migrations applied."""
    settings = (settings or config.from_env()).with_overrides(**overrides)
    settings, _ = config.ensure_token(settings)
    config.use(settings)
    # SCIM_SCHEMAS_DIR's documents and records are checked now: a broken one stops the start.
    for catalog in registry().catalogs.values():
        records.records(catalog)
    events.check(settings)  # a bad events setting (no signing key) stops the server at start
    database.db()  # opens the file and applies migrations now, so a bad path fails at start
    indexes.ensure(database.connection(), drop_stale=True)  # of attributes no longer declared
    app = connexion.AsyncApp(
        __name__,
        specification_dir=str(spec.SPEC_PATH.parent),
        swagger_ui_options=SwaggerUIOptions(swagger_ui=True, serve_spec=True),
        jsonifier=FastJsonifier(),
        lifespan=push.lifespan,
        security_map={"bearer": auth.BearerCheck},
    )
    app._middleware_app.api_cls = DecoratedOnceApi  # RoutedMiddleware's documented hook
    app.add_api(
        spec.published_spec(),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        pythonic_params=True,
        validator_map=validation.VALIDATORS,
    )
    # Outside the exception middleware, in this order: the Observer sees every answer as sent
    # (errors included), then the Site takes /console, /metrics, /healthz and /readyz.
    app.add_middleware(Observer, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(Site, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(RequestNormalizer, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(EventsGate, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_error_handler(ProblemException, errors.problem_handler)
    app.add_error_handler(405, errors.method_not_allowed_handler(spec.allowed_methods))
    app.add_error_handler(HTTPException, errors.http_exception_handler)
    app.add_error_handler(UnicodeDecodeError, errors.unicode_error_handler)
    app.add_error_handler(sqlite3.OperationalError, errors.database_error_handler)
    app.add_error_handler(Exception, errors.unexpected_error_handler)
    return app

"""Builds the Connexion app: the spec, the middleware, the SCIM error handlers, the database."""

from __future__ import annotations

import sqlite3
from typing import Any

import connexion
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.exceptions import HTTPException

from app import auth, config, database, errors, events, push, records, spec, validation
from app.framework import DecoratedOnceApi, FastJsonifier, configure_middlewares
from app.middleware import RequestNormalizer
from app.observe import Observer
from app.poll import EventsGate
from app.resources import registry
from app.site import Site


def create_app(settings: config.Settings | None = None, **overrides: Any) -> connexion.AsyncApp:
    """A ready app: settings from the environment unless given, migrations applied."""
    settings = (settings or config.from_env()).with_overrides(**overrides)
    settings, _ = config.ensure_token(settings)
    config.use(settings)
    # SCIM_SCHEMAS_DIR's documents and records are checked now: a broken one stops the start.
    for catalog in registry().catalogs.values():
        records.records(catalog)
    events.check(settings)  # a bad events setting (no signing key) stops the server at start
    # Opens the database and applies migrations now, so a bad SCIM_DB fails at start; drops
    # the indexes of attributes no longer declared.
    database.open_now(drop_stale=True)
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
    configure_middlewares(app.middleware.middlewares)
    app.add_error_handler(ProblemException, errors.problem_handler)
    app.add_error_handler(405, errors.method_not_allowed_handler(spec.allowed_methods))
    app.add_error_handler(HTTPException, errors.http_exception_handler)
    app.add_error_handler(UnicodeDecodeError, errors.unicode_error_handler)
    app.add_error_handler(sqlite3.OperationalError, errors.database_error_handler)
    app.add_error_handler(Exception, errors.unexpected_error_handler)
    return app

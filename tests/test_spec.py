"""The spec and the handlers agree: every operationId resolves, no handler is orphaned."""

from __future__ import annotations

import importlib
import inspect

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from app import spec

HANDLER_MODULES = ("app.users", "app.groups", "app.discovery")


def operation_ids() -> list[str]:
    return [
        operation["operationId"]
        for item in spec.document()["paths"].values()
        for method, operation in item.items()
        if method in spec.METHODS
    ]


def test_spec_is_valid_openapi() -> None:
    document, _ = read_from_filename(str(spec.SPEC_PATH))
    validate(document)


def test_every_operation_id_is_a_documented_async_handler() -> None:
    for operation_id in operation_ids():
        module_name, _, name = operation_id.rpartition(".")
        handler = getattr(importlib.import_module(module_name), name)
        assert inspect.iscoroutinefunction(handler), operation_id
        assert inspect.getdoc(handler), f"{operation_id} has no docstring"


def test_no_orphaned_handlers() -> None:
    used = set(operation_ids())
    for module_name in HANDLER_MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
            if function.__module__ == module_name and not name.startswith("_"):
                assert f"{module_name}.{name}" in used, f"{module_name}.{name} is not in the spec"


def test_operation_ids_are_unique() -> None:
    ids = operation_ids()
    assert len(ids) == len(set(ids))

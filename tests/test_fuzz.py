"""A bounded in-process Schemathesis run on every submission: each operation, then the stateful
machine following the spec's links, with every check on (`make fuzz` does the same against the
real gunicorn server). Calls go straight into the ASGI app; nothing touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import config
from tests.conftest import APP, AUTH

# A bounded Schemathesis run: contract fuzzing rather than one protocol behaviour.
pytestmark = pytest.mark.slow

FUZZ_SETTINGS = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


schema = schemathesis.openapi.from_asgi("/scim/v2/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One database for the whole module, so the stateful phase finds what it created."""
    saved = config.get()
    config.use(saved.with_overrides(db_path=str(tmp_path_factory.mktemp("fuzz") / "scim.db")))
    yield
    config.use(saved)


@schema.parametrize()
@FUZZ_SETTINGS
def test_operation(case: Any) -> None:
    case.call_and_validate(headers=AUTH)


def test_stateful() -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": AUTH}

    Workflow.run(settings=settings(FUZZ_SETTINGS, max_examples=20, stateful_step_count=6))


def test_schemathesis_config_is_committed() -> None:
    assert (Path(__file__).parent.parent / "schemathesis.toml").is_file()

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
from tests.test_events import EVENTS_AUTH, EVENTS_TOKEN, SECRET

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
    """One database for the whole module, so the stateful phase finds what it created; security
    events on, so that every write path appends its events while fuzzed."""
    saved = config.get()
    db_path = str(tmp_path_factory.mktemp("fuzz") / "scim.db")
    events = {"events_token": EVENTS_TOKEN, "events_secret": SECRET}
    config.use(saved.with_overrides(db_path=db_path, events_long_poll_seconds=0.2, **events))
    yield
    config.use(saved)


@schema.parametrize()
@FUZZ_SETTINGS
def test_operation(case: Any) -> None:
    case.call_and_validate(headers=auth(case))


def auth(case: Any) -> dict[str, str]:
    """The poll endpoint takes the events token; every other operation the SCIM token."""
    return EVENTS_AUTH if case.operation.path == "/events/poll" else AUTH


def test_stateful() -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth(case)}

    Workflow.run(settings=settings(FUZZ_SETTINGS, max_examples=20, stateful_step_count=6))


def test_schemathesis_config_is_committed() -> None:
    assert (Path(__file__).parent.parent / "schemathesis.toml").is_file()

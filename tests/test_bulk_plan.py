"""app/bulk_plan.py: references replaced, the order to run, and errors kept per operation."""

from __future__ import annotations

from typing import Any

from app import bulk_plan
from app.bulk_plan import BULK_REQUEST

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _user(bulk_id: str, manager: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"userName": bulk_id}
    if manager is not None:
        data[MANAGER] = {"manager": {"value": f"bulkId:{manager}"}}
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}


def _read(*operations: dict[str, Any]) -> bulk_plan.Plan:
    return bulk_plan.read({"schemas": [BULK_REQUEST], "Operations": list(operations)}, 5000)


def test_a_long_chain_runs_from_its_end() -> None:
    # Each user's manager is the next one: the last must be created first. No recursion limit.
    chain = [_user(f"u{n}", f"u{n + 1}" if n < 2999 else None) for n in range(3000)]
    plan = _read(*chain)
    assert plan.order == list(reversed(range(3000)))
    first, second = plan.operations[0], plan.operations[1]
    assert first.data[MANAGER]["manager"]["value"] == second.resource_id
    assert all(op.error is None for op in plan.operations)


def test_only_whole_string_values_are_references() -> None:
    data = {
        "userName": "bulkId:a",
        "displayName": "see bulkId:a",
        "x-keys": {"bulkId:a": "kept"},
        "list": ["bulkId:a", 'bulkId:quote"d'],
    }
    plan = _read(_user("a"), {"method": "PUT", "path": "/Users/bulkId:a", "data": data})
    created, put = plan.operations
    assert put.resource_id == created.resource_id
    assert put.data["userName"] == created.resource_id
    assert put.data["displayName"] == "see bulkId:a"
    assert put.data["x-keys"] == {"bulkId:a": "kept"}
    assert put.data["list"][0] == created.resource_id
    assert put.error is not None and "quote" in str(put.error.detail)  # unknown: 409
    assert plan.order == [0, 1]


def test_cycles_are_marked_and_the_rest_is_not() -> None:
    plan = _read(_user("a", "b"), _user("b", "c"), _user("c", "a"), _user("d", "a"), _user("e"))
    statuses = [op.error.status if op.error else None for op in plan.operations]
    assert statuses == [409, 409, 409, None, None]  # d fails at run time: a is never created
    assert sorted(plan.order) == [0, 1, 2, 3, 4] and plan.order.index(3) > plan.order.index(0)

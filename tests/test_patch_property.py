"""Property: PATCH over HTTP, then GET, gives what the pure engine computes for the same request."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import errors, patch
from app.operations import parse_operations
from app.resources import USER
from app.values import clean, normalize_primary
from tests.conftest import ScimClient

# Property tests: the tables in test_query.py / test_patch.py cover each behaviour in the fast
# tier; these search for what the tables missed, at the thorough example count, in make test-all.
pytestmark = pytest.mark.slow

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TYPES = ["work", "home", "other"]
text = st.text(alphabet="abcXYZ019 .@-", min_size=1, max_size=8)
email = st.fixed_dictionaries(
    {"value": text, "type": st.sampled_from(TYPES)},
    optional={"primary": st.booleans(), "display": text},
)
resource = st.fixed_dictionaries(
    {},
    optional={
        "title": text,
        "nickName": text,
        "active": st.booleans(),
        "name": st.fixed_dictionaries({}, optional={"givenName": text, "familyName": text}),
        "emails": st.lists(email, max_size=3),
        ENT: st.fixed_dictionaries({}, optional={"employeeNumber": text, "department": text}),
    },
)
filter_ = st.sampled_from(TYPES).map(lambda t: f'type eq "{t}"')
operation = st.one_of(
    st.builds(
        lambda p, v: {"op": "replace", "path": p, "value": v},
        st.sampled_from(["title", "nickName", "name.givenName"]),
        text,
    ),
    st.builds(
        lambda v: {"op": "Replace", "path": "active", "value": v},
        st.sampled_from([True, False, "True", "false"]),
    ),
    st.builds(
        lambda p: {"op": "remove", "path": p},
        st.sampled_from(
            ["title", "nickName", "name", "emails", "name.familyName", f"{ENT}:department"]
        ),
    ),
    st.builds(
        lambda v: {"op": "add", "path": "emails", "value": v},
        st.lists(email, min_size=1, max_size=2),
    ),
    st.builds(lambda f: {"op": "remove", "path": f"emails[{f}]"}, filter_),
    st.builds(
        lambda f, v: {"op": "replace", "path": f"emails[{f}].value", "value": v}, filter_, text
    ),
    st.builds(lambda f, v: {"op": "add", "path": f"emails[{f}].value", "value": v}, filter_, text),
    st.builds(
        lambda f, b: {"op": "replace", "path": f"emails[{f}].primary", "value": b},
        filter_,
        st.booleans(),
    ),
    st.builds(
        lambda v: {"op": "replace", "value": v},
        st.fixed_dictionaries(
            {}, optional={"title": text, "active": st.booleans(), "name.familyName": text}
        ),
    ),
    st.builds(lambda v: {"op": "add", "path": f"{ENT}:employeeNumber", "value": v}, text),
    st.builds(lambda v: {"op": "add", "value": {ENT: {"department": v}}}, text),
)
names = (f"prop{i}" for i in itertools.count())


def engine(before: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server should store: the engine's result, cleaned as every write is."""
    result = clean(USER, patch.apply(USER, before, parse_operations(USER, operations)).resource)
    normalize_primary(result)
    return result


@given(start=resource, operations=st.lists(operation, min_size=1, max_size=4))
def test_http_patch_matches_the_engine(
    client: ScimClient, start: dict[str, Any], operations: list[dict[str, Any]]
) -> None:
    created = client.post("/Users", {"userName": next(names), **start})
    assert created.status_code == 201, created.text
    user = created.json()
    before = {k: v for k, v in user.items() if k not in ("id", "meta", "schemas")}
    try:
        expected = engine(before, operations)
    except errors.ScimError as error:
        response = client.patch(f"/Users/{user['id']}", operations)
        assert (response.status_code, response.json().get("scimType")) == (
            error.status,
            error.scim_type,
        )
        assert client.get(f"/Users/{user['id']}").json() == user  # nothing changed
        return
    response = client.patch(f"/Users/{user['id']}", operations)
    assert response.status_code == 200, response.text
    got = client.get(f"/Users/{user['id']}").json()
    assert {k: v for k, v in got.items() if k not in ("id", "meta", "schemas")} == expected

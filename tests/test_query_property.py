"""Property: for random users and random filters, the SQL path returns exactly the users the
reference evaluator (app/evaluate.py) says match. This is the oracle that keeps app/query.py honest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import database, evaluate, filters
from app.resources import USER
from tests.conftest import ScimClient, seed_users

# Property tests: the tables in test_query.py / test_patch.py cover each behaviour in the fast
# tier; these search for what the tables missed, at the thorough example count, in make test-all.
pytestmark = pytest.mark.slow

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Few, colliding values, with case and Unicode folding in play (ß/ss, é/É).
WORDS = ["a", "A", "ab", "aB", "b", "é", "É", "ss", "ß", "x y", ""]
word = st.sampled_from(WORDS)

email = st.fixed_dictionaries(
    {},
    optional={
        "value": word,
        "type": st.sampled_from(["work", "home"]),
        "primary": st.booleans(),
        "display": word,
    },
)
user = st.fixed_dictionaries(
    {"userName": word},
    optional={
        "title": word,
        "nickName": word,
        "displayName": word,
        "externalId": word,
        "active": st.booleans(),
        "name": st.fixed_dictionaries({}, optional={"givenName": word, "familyName": word}),
        "emails": st.lists(email, max_size=3),
        ENT: st.fixed_dictionaries({}, optional={"employeeNumber": word}),
    },
)

STRING_PATHS = [
    "userName",
    "title",
    "nickName",
    "displayName",
    "externalId",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "emails.type",
    "emails.display",
    "emails",
    f"{ENT}:employeeNumber",
]
STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]


def quoted(value: str) -> str:
    return json.dumps(value)


string_leaf = st.builds(
    lambda p, o, v: f"{p} {o} {quoted(v)}",
    st.sampled_from(STRING_PATHS),
    st.sampled_from(STRING_OPS),
    word,
)
present = st.builds(
    lambda p: f"{p} pr",
    st.sampled_from([*STRING_PATHS, "active", "name", "emails.primary", ENT + ":employeeNumber"]),
)
boolean_leaf = st.builds(
    lambda p, o, v: f"{p} {o} {v}",
    st.sampled_from(["active", "emails.primary"]),
    st.sampled_from(["eq", "ne"]),
    st.sampled_from(["true", "false"]),
)
null_leaf = st.builds(
    lambda p, o: f"{p} {o} null",
    st.sampled_from(["title", "name.givenName", "emails.value"]),
    st.sampled_from(["eq", "ne"]),
)
schemas_leaf = st.builds(
    lambda o, v: f"schemas {o} {quoted(v)}",
    st.sampled_from(["eq", "ne", "sw"]),
    st.sampled_from(["urn:ietf:params:scim:schemas:core:2.0:User", ENT, "urn:ietf"]),
)
element_leaf = st.one_of(
    st.builds(
        lambda s, o, v: f"{s} {o} {quoted(v)}",
        st.sampled_from(["value", "type", "display"]),
        st.sampled_from(STRING_OPS),
        word,
    ),
    st.builds(lambda v: f"primary eq {v}", st.sampled_from(["true", "false"])),
    st.sampled_from(["value pr", "display pr", "primary pr"]),
)


def logical(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`and`, `or` and `not` over smaller filters."""
    return st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    )


element_filter = st.recursive(
    element_leaf,
    logical,
    max_leaves=3,
)
value_path = element_filter.map(lambda f: f"emails[{f}]")
# Entra's `emails[type eq "work"].value eq "x"`, index-backed like `emails.value eq`.
value_path_compare = st.builds(
    lambda f, o, v: f"emails[{f}].value {o} {quoted(v)}",
    element_filter,
    st.sampled_from(["eq", "co"]),
    word,
)
resource_type_leaf = st.builds(
    lambda o, v: f"meta.resourceType {o} {quoted(v)}",
    st.sampled_from(["eq", "ne"]),
    st.sampled_from(["User", "Group", "user"]),
)
leaf = st.one_of(
    string_leaf,
    present,
    boolean_leaf,
    null_leaf,
    schemas_leaf,
    value_path,
    value_path_compare,
    resource_type_leaf,
)
filter_text = st.recursive(
    leaf,
    logical,
    max_leaves=4,
)


@given(users=st.lists(user, max_size=5), text=filter_text)
def test_sql_returns_what_the_evaluator_matches(
    client: ScimClient, users: list[dict[str, Any]], text: str
) -> None:
    with database.write_sync() as conn:
        conn.execute("DELETE FROM users")
    seed_users(
        {**attributes, "userName": f"{i}{attributes['userName']}"}
        for i, attributes in enumerate(users)
    )
    everyone = client.get("/Users", params={"count": 1000}).json()["Resources"]
    response = client.get("/Users", params={"filter": text, "count": 1000})
    assert response.status_code == 200, response.text
    node = filters.parse(text)
    expected = [r["userName"] for r in everyone if evaluate.matches(node, r, USER)]
    assert [r["userName"] for r in response.json()["Resources"]] == expected, text


# Declared extension attributes (examples/schemas/acme_user.json, issue #10): the same oracle
# over attributes of every declared type, indexed ones (costCenter, employeeId) compiled to
# their index's expression (app/indexes.py), caseExact ones (homePage) compared as stored.
ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
MOMENTS = ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-06-30T12:30:00.5Z"]
project = st.fixed_dictionaries(
    {"value": word},
    optional={"role": st.sampled_from(["lead", "member"]), "primary": st.booleans()},
)
acme_block = st.fixed_dictionaries(
    {},
    optional={
        "costCenter": word,
        "homePage": word,
        "clearanceLevel": st.integers(-1, 3),
        "hourlyRate": st.sampled_from([0, 1.5, -2, 3]),
        "remote": st.booleans(),
        "startDate": st.sampled_from(MOMENTS),
        "skills": st.lists(word, max_size=3),
        "projects": st.lists(project, max_size=2),
        "desk": st.fixed_dictionaries({}, optional={"building": word, "floor": st.integers(0, 3)}),
    },
)
acme_user = st.fixed_dictionaries(
    {"userName": word}, optional={"title": word, "employeeId": word, ACME: acme_block}
)
ACME_STRINGS = [f"{ACME}:{p}" for p in ("costCenter", "homePage", "employeeId", "skills",
                "projects.value", "projects.role", "desk.building")]  # fmt: skip
ACME_NUMBERS = [f"{ACME}:{p}" for p in ("clearanceLevel", "hourlyRate", "desk.floor")]
acme_leaf = st.one_of(
    st.builds(
        lambda p, o, v: f"{p} {o} {quoted(v)}",
        st.sampled_from([*ACME_STRINGS, "title"]),
        st.sampled_from(STRING_OPS),
        word,
    ),
    st.builds(
        lambda p, o, v: f"{p} {o} {v}",
        st.sampled_from(ACME_NUMBERS),
        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
        st.sampled_from(["-1", "0", "1.5", "2", "3"]),
    ),
    st.builds(
        lambda o, v: f"{ACME}:remote {o} {v}",
        st.sampled_from(["eq", "ne"]),
        st.sampled_from(["true", "false"]),
    ),
    st.builds(
        lambda o, v: f"{ACME}:startDate {o} {quoted(v)}",
        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
        st.sampled_from(MOMENTS),
    ),
    st.builds(
        lambda p: f"{p} pr",
        st.sampled_from(
            [*ACME_STRINGS, *ACME_NUMBERS, f"{ACME}:remote", f"{ACME}:desk", f"{ACME}:projects"]
        ),
    ),
    st.builds(lambda v: f"schemas eq {quoted(v)}", st.sampled_from([ACME, ACME.upper(), ENT])),
)
project_leaf = st.one_of(
    st.builds(
        lambda s, o, v: f"{s} {o} {quoted(v)}",
        st.sampled_from(["value", "role"]),
        st.sampled_from(STRING_OPS),
        st.sampled_from([*WORDS, "lead", "member"]),
    ),
    st.builds(lambda v: f"primary eq {v}", st.sampled_from(["true", "false"])),
    st.sampled_from(["value pr", "role pr", "primary pr"]),
)
acme_leaf = st.one_of(
    acme_leaf,
    st.recursive(project_leaf, logical, max_leaves=3).map(lambda f: f"{ACME}:projects[{f}]"),
)
acme_filter = st.recursive(acme_leaf, logical, max_leaves=4)


@given(users=st.lists(acme_user, max_size=5), text=acme_filter)
def test_sql_returns_what_the_evaluator_matches_on_declared_attributes(
    declared: ScimClient, users: list[dict[str, Any]], text: str
) -> None:
    client = declared
    with database.write_sync() as conn:
        conn.execute("DELETE FROM users")
    seed_users(_numbered(i, attributes) for i, attributes in enumerate(users))
    everyone = client.get("/Users", params={"count": 1000}).json()["Resources"]
    response = client.get("/Users", params={"filter": text, "count": 1000})
    assert response.status_code == 200, response.text
    node = filters.parse(text)
    expected = [r["userName"] for r in everyone if evaluate.matches(node, r, USER)]
    assert [r["userName"] for r in response.json()["Resources"]] == expected, text


def _numbered(i: int, attributes: dict[str, Any]) -> dict[str, Any]:
    """userName and the unique employeeId made unique by the user's number."""
    user = {**attributes, "userName": f"{i}{attributes['userName']}"}
    employee = user.pop("employeeId", None)
    if employee is not None:
        user[ACME] = {**user.get(ACME, {}), "employeeId": f"{i}{employee}"}
    return user

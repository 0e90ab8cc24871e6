"""Property: for random users and random filters, the SQL path returns exactly the users the
reference evaluator (app/evaluate.py) says match. This is the oracle that keeps app/query.py honest.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app import database, evaluate, filters
from app.resources import USER
from tests.conftest import ScimClient, seed_users

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

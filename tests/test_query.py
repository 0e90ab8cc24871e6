"""Filters compiled to SQL: results over HTTP, parameter binding and index use."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from app import database, errors, filters, listing, migrations, query
from app.resources import GROUP, USER, registry
from tests.conftest import ScimClient, assert_scim_error

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PEOPLE: list[dict[str, Any]] = [
    {
        "userName": "bjensen@example.com",
        "externalId": "E1",
        "title": "Tour Guide",
        "active": True,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "boss"}},
    },
    {
        "userName": "Émile@example.com",
        "externalId": "e1",
        "active": False,
        "name": {"givenName": "Émile", "familyName": "Zola"},
        "emails": [{"value": "EMILE@EXAMPLE.COM", "type": "work"}],
    },
    {
        "userName": "jsmith@example.org",
        "externalId": "E3",
        "userType": "Intern",
        "active": True,
        "name": {"givenName": "John", "familyName": "O'Malley"},
    },
]

# (filter, userNames expected, in creation order)
RESULTS = [
    ('userName eq "BJENSEN@example.com"', ["bjensen@example.com"]),
    ('userName eq "émile@EXAMPLE.com"', ["Émile@example.com"]),  # casefold beyond ASCII
    ('userName eq "nobody"', []),
    ('externalId eq "E1"', ["bjensen@example.com"]),  # caseExact
    ('externalId eq "e1"', ["Émile@example.com"]),
    ('id eq "nope"', []),
    ('emails.value eq "emile@example.com"', ["Émile@example.com"]),
    ('emails eq "babs@jensen.org"', ["bjensen@example.com"]),
    ('emails[type eq "home" and value co "jensen"]', ["bjensen@example.com"]),
    ('emails[type eq "work"]', ["bjensen@example.com", "Émile@example.com"]),
    ('userName eq "bjensen@example.com" and active eq true', ["bjensen@example.com"]),
    ('userName eq "bjensen@example.com" and active eq false', []),
    ("active eq false", ["Émile@example.com"]),
    ('name.familyName co "o\'m"', ["jsmith@example.org"]),
    ('userName sw "J"', ["jsmith@example.org"]),
    ('userName ew ".ORG"', ["jsmith@example.org"]),
    ('userName ew ""', ["bjensen@example.com", "Émile@example.com", "jsmith@example.org"]),
    ("title pr", ["bjensen@example.com"]),
    ("not (title pr)", ["Émile@example.com", "jsmith@example.org"]),
    (
        'userType eq "Intern" or title eq "tour guide"',
        ["bjensen@example.com", "jsmith@example.org"],
    ),
    ('userType ne "Intern"', ["bjensen@example.com", "Émile@example.com"]),
    (f'{ENTERPRISE}:employeeNumber eq "701984"', ["bjensen@example.com"]),
    (f'{ENTERPRISE}:manager.value eq "boss"', ["bjensen@example.com"]),
    (
        'meta.created gt "2000-01-01T00:00:00Z"',
        ["bjensen@example.com", "Émile@example.com", "jsmith@example.org"],
    ),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
    ("nickName eq null", ["bjensen@example.com", "Émile@example.com", "jsmith@example.org"]),
]


@pytest.fixture
def people(client: ScimClient) -> ScimClient:
    for person in PEOPLE:
        client.create_user(**person)
    return client


@pytest.mark.parametrize(("text", "expected"), RESULTS, ids=[r[0][:60] for r in RESULTS])
def test_filter_results(people: ScimClient, text: str, expected: list[str]) -> None:
    response = people.get("/Users", params={"filter": text})
    assert response.status_code == 200, response.text
    page = response.json()
    assert [u["userName"] for u in page["Resources"]] == expected
    assert page["totalResults"] == len(expected)


def test_membership_filters(client: ScimClient) -> None:
    ann = client.create_user("ann")
    bob = client.create_user("bob")
    group = client.create_group("Admins", [ann["id"]])
    client.create_group("Others", [bob["id"]])
    found = client.get("/Groups", params={"filter": f'members.value eq "{ann["id"]}"'}).json()
    assert [g["displayName"] for g in found["Resources"]] == ["Admins"]
    both = f'id eq "{group["id"]}" and members[value eq "{ann["id"]}"]'
    assert client.get("/Groups", params={"filter": both}).json()["totalResults"] == 1
    of_group = client.get("/Users", params={"filter": f'groups.value eq "{group["id"]}"'}).json()
    assert [u["userName"] for u in of_group["Resources"]] == ["ann"]
    assert_scim_error(
        client.get("/Groups", params={"filter": 'members.display eq "ann"'}), 400, "invalidFilter"
    )


def test_values_are_bound_never_formatted() -> None:
    hostile = "x' OR 1=1 --"
    compiled = query.compile(USER, filters.parse(f'userName eq "{hostile}"'))
    assert hostile.casefold() in compiled.params.values()
    assert compiled.where is not None and "OR 1=1" not in compiled.where


@pytest.mark.parametrize(
    ("resource_type", "table", "text", "index"),
    [
        (USER, "users", 'userName eq "x"', "user_name_key"),
        (USER, "users", 'externalId eq "x"', "ix_users_external_id"),
        (USER, "users", 'id eq "x"', "id"),
        (GROUP, "groups", 'displayName eq "x"', "ix_groups_display_name_key"),
        (GROUP, "groups", 'externalId eq "x"', "ix_groups_external_id"),
        (USER, "users", 'emails.value eq "x"', "user_emails"),
        (USER, "users", 'emails eq "x"', "user_emails"),
        (USER, "users", 'emails[type eq "work"].value eq "x"', "user_emails"),
        (GROUP, "groups", 'members.value eq "x"', "ix_group_members_user"),
        (USER, "users", 'groups.value eq "x"', "group_members"),
    ],
)
@pytest.mark.sqlite_only  # SQLite's plans; PostgreSQL's are in tests/test_postgres.py
def test_hot_filters_use_an_index(
    client: ScimClient, resource_type: Any, table: str, text: str, index: str
) -> None:
    compiled = query.compile(resource_type, filters.parse(text))
    plan = (
        database.connection()
        .execute(
            # As app/store.py runs it: scoped by the tenant first.
            f"EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE {table}.tenant = :tenant"
            f" AND ({compiled.where})",
            {**compiled.params, "tenant": "default"},
        )
        .fetchall()
    )
    detail = " ".join(row[-1] for row in plan)
    assert "SEARCH" in detail and index in detail, detail


def test_email_index_follows_every_write(client: ScimClient) -> None:
    user = client.create_user("u", emails=[{"value": "Old@Example.com"}])
    found = client.get("/Users", params={"filter": 'emails.value eq "old@example.COM"'}).json()
    assert found["totalResults"] == 1
    client.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": "emails", "value": [{"value": "new@example.com"}]}],
    )
    assert (
        client.get("/Users", params={"filter": 'emails.value eq "old@example.com"'}).json()[
            "totalResults"
        ]
        == 0
    )
    assert (
        client.get("/Users", params={"filter": 'emails.value eq "NEW@example.com"'}).json()[
            "totalResults"
        ]
        == 1
    )
    # Writes that leave the emails alone leave their index alone (store._index_values).
    client.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    client.put(f"/Users/{user['id']}", {"userName": "u", "emails": [{"value": "new@example.com"}]})
    found = client.get("/Users", params={"filter": 'emails.value eq "new@example.com"'}).json()
    assert found["totalResults"] == 1
    client.put(f"/Users/{user['id']}", {"userName": "u"})
    assert (
        client.get("/Users", params={"filter": 'emails.value eq "new@example.com"'}).json()[
            "totalResults"
        ]
        == 0
    )
    client.put(f"/Users/{user['id']}", {"userName": "u", "emails": [{"value": "put@example.com"}]})
    client.delete(f"/Users/{user['id']}")
    assert database.connection().execute("SELECT count(*) FROM user_emails").fetchone()[0] == 0


def test_migration_indexes_existing_emails(tmp_path: Any) -> None:
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v)
    database = sqlite_utils.Database(conn)
    conn.execute("BEGIN")
    for statement in migrations._statements(migrations.STEPS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO users (id, user_name_key, resource, created, last_modified) VALUES"
        ' (\'u1\', \'a\', json(\'{"userName": "a", "emails": [{"value": "A@X.org"}, {"type": "work"}]}\'), \'c\', \'m\')'
    )
    conn.execute("COMMIT")
    assert migrations.apply(database) == len(migrations.STEPS)
    assert conn.execute("SELECT value_key, user_id FROM user_emails").fetchall() == [
        ("a@x.org", "u1")
    ]


# (resource type, filter, sortBy, sortOrder, expected WHERE, expected ORDER BY, expected params):
# what the compiler emits, so a change of the SQL is a visible change of this table.
ENT_PATH = f'$."{ENTERPRISE}"'
SORTED_EMAILS = (
    "(SELECT json_extract(e.value, :p0) FROM json_each(users.resource, :p1) e"
    " ORDER BY json_extract(e.value, '$.primary') IS NOT 1 LIMIT 1)"
)
# fmt: off
COMPILED = [
    (USER, 'userName eq "BJensen"', None, None, "users.user_name_key = :p0", None, {"p0": "bjensen"}),
    (USER, 'externalId eq "E1"', None, None, "users.external_id = :p0", None, {"p0": "E1"}),
    (USER, 'title co "Guide"', None, None, "instr(casefold(json_extract(users.resource, :p0)), :p1) > 0", None, {"p0": "$.title", "p1": "guide"}),
    (USER, "active eq true", None, None, "json_extract(users.resource, :p0) = :p1", None, {"p0": "$.active", "p1": 1}),
    (USER, "nickName eq null", None, None, "casefold(json_extract(users.resource, :p0)) IS NULL", None, {"p0": "$.nickName"}),
    (USER, 'userType ne "Intern"', None, None, "(casefold(json_extract(users.resource, :p0)) IS NULL OR casefold(json_extract(users.resource, :p0)) <> :p1)", None, {"p0": "$.userType", "p1": "intern"}),
    (USER, "title pr", None, None, "coalesce(json_extract(users.resource, :p0) <> '', 0)", None, {"p0": "$.title"}),
    (USER, "name pr", None, None, "json_extract(users.resource, :p0) IS NOT NULL", None, {"p0": "$.name"}),
    # An empty string is no value for a reference either (RFC 7644 §3.4.2.2), as for a string.
    (USER, "profileUrl pr", None, None, "coalesce(json_extract(users.resource, :p0) <> '', 0)", None, {"p0": "$.profileUrl"}),
    (USER, 'meta.created gt "2011-05-13T04:42:34Z"', None, None, "users.created > :p0", None, {"p0": "2011-05-13T04:42:34.000Z"}),
    (USER, 'emails.value eq "A@X.org"', None, None, "users.id IN (SELECT user_id FROM user_emails WHERE value_key = :p0)", None, {"p0": "a@x.org"}),
    (USER, 'emails[type eq "work" and value sw "a"]', None, None, "EXISTS (SELECT 1 FROM json_each(users.resource, :p0) e WHERE (casefold(json_extract(e.value, :p1)) = :p2 AND substr(casefold(json_extract(e.value, :p3)), 1, length(:p4)) = :p4))", None, {"p0": "$.emails", "p1": "$.type", "p2": "work", "p3": "$.value", "p4": "a"}),
    (USER, 'emails[type eq "work"].value eq "A@x.org"', None, None, "(users.id IN (SELECT user_id FROM user_emails WHERE value_key = :p5) AND EXISTS (SELECT 1 FROM json_each(users.resource, :p0) e WHERE (casefold(json_extract(e.value, :p1)) = :p2 AND casefold(json_extract(e.value, :p3)) = :p4)))", None, {"p0": "$.emails", "p1": "$.type", "p2": "work", "p3": "$.value", "p4": "a@x.org", "p5": "a@x.org"}),
    (USER, "not (emails pr)", None, None, "NOT coalesce(EXISTS (SELECT 1 FROM json_each(users.resource, :p0) e WHERE e.value IS NOT NULL), 0)", None, {"p0": "$.emails"}),
    (USER, 'userName eq "a" or displayName ew "z"', None, None, "(users.user_name_key = :p0 OR substr(casefold(json_extract(users.resource, :p1)), length(casefold(json_extract(users.resource, :p1))) - length(:p2) + 1) = :p2)", None, {"p0": "a", "p1": "$.displayName", "p2": "z"}),
    (USER, f'{ENTERPRISE}:manager.value eq "boss"', None, None, "casefold(json_extract(users.resource, :p0)) = :p1", None, {"p0": f"{ENT_PATH}.manager.value", "p1": "boss"}),
    (USER, f'schemas eq "{ENTERPRISE}"', None, None, "(0 OR EXISTS (SELECT 1 FROM json_each(users.resource) k WHERE k.key LIKE 'urn:%' AND casefold(k.key) = :p0))", None, {"p0": ENTERPRISE.casefold()}),
    (USER, 'groups.value eq "g1"', None, None, "users.id IN (SELECT user_id FROM group_members WHERE group_id = :p0)", None, {"p0": "g1"}),
    (GROUP, 'meta.resourceType eq "Group" and not (meta.resourceType eq "User")', None, None, "(1 AND NOT coalesce(0, 0))", None, {}),
    (GROUP, 'members[value eq "u1"]', None, None, "EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = groups.id AND gm.user_id = :p0)", None, {"p0": "u1"}),
    (GROUP, 'displayName eq "Admins"', "displayName", "descending", "groups.display_name_key = :p0", "(groups.display_name_key) IS NULL, groups.display_name_key DESC, groups.seq", {"p0": "admins"}),
    (USER, None, "emails", "ascending", None, f"(casefold({SORTED_EMAILS})) IS NULL, casefold({SORTED_EMAILS}) ASC, users.seq", {"p0": "$.value", "p1": "$.emails"}),
    (USER, 'title eq "x"', "name.familyName", None, "casefold(json_extract(users.resource, :p0)) = :p1", "(casefold(json_extract(users.resource, :p2))) IS NULL, casefold(json_extract(users.resource, :p2)) ASC, users.seq", {"p0": "$.title", "p1": "x", "p2": "$.name.familyName"}),
]
# fmt: on


@pytest.mark.parametrize(
    ("resource_type", "text", "sort_by", "sort_order", "where", "order_by", "params"),
    COMPILED,
    ids=[f"{r[0].name}:{r[1]}:{r[2]}" for r in COMPILED],
)
def test_compiled_sql(
    resource_type: Any,
    text: str | None,
    sort_by: str | None,
    sort_order: str | None,
    where: str | None,
    order_by: str | None,
    params: dict[str, Any],
) -> None:
    node = filters.parse(text) if text else None
    assert query.compile(resource_type, node, sort_by, sort_order) == query.Compiled(
        where, order_by, params
    )


# (resource type, filter or sortBy, the error it is): what the check step or the sort refuses.
REFUSED = [
    (USER, "filter", 'meta.version eq "W/1"', errors.InvalidFilter),
    (USER, "filter", 'meta.location eq "x"', errors.InvalidFilter),
    (USER, "filter", 'name eq "x"', errors.InvalidFilter),
    (USER, "filter", 'active eq "yes"', errors.InvalidFilter),
    (USER, "filter", "active gt true", errors.InvalidFilter),
    (USER, "filter", "userName eq 3", errors.InvalidFilter),
    (USER, "filter", "userName gt null", errors.InvalidFilter),
    (USER, "filter", 'meta.created co "2011"', errors.InvalidFilter),
    (USER, "filter", 'meta.created gt "yesterday"', errors.InvalidFilter),
    (
        USER,
        "filter",
        'meta.created gt "9999-12-31T23:59:59-23:59"',
        errors.InvalidFilter,
    ),  # past year 9999 in UTC
    (USER, "filter", "password pr", errors.InvalidFilter),  # never returned: not filterable either
    (USER, "sortBy", "password", errors.InvalidValue),
    (USER, "filter", 'emails[type eq "work"].nope eq "x"', errors.InvalidFilter),
    (USER, "filter", 'emails[type eq "work"].value', errors.InvalidFilter),
    (USER, "filter", 'emails[type eq "work"]value eq "x"', errors.InvalidFilter),
    (USER, "filter", 'emails[nope eq "x"]', errors.InvalidFilter),
    (USER, "filter", 'emails[value.sub eq "x"]', errors.InvalidFilter),
    (USER, "filter", 'name[givenName eq "x"]', errors.InvalidFilter),
    (USER, "filter", 'schemas[value eq "x"]', errors.InvalidFilter),
    (USER, "filter", 'nope eq "x"', errors.InvalidFilter),
    (GROUP, "filter", 'members.display eq "ann"', errors.InvalidFilter),
    (GROUP, "filter", 'userName eq "x"', errors.InvalidFilter),
    (USER, "sortBy", "nope", errors.InvalidValue),
    (USER, "sortBy", "name", errors.InvalidValue),
]


@pytest.mark.parametrize(
    ("resource_type", "kind", "text", "error"), REFUSED, ids=[r[2] for r in REFUSED]
)
def test_refused_queries(resource_type: Any, kind: str, text: str, error: type) -> None:
    with pytest.raises(error) as raised:
        if kind == "filter":
            query.compile(resource_type, filters.parse(text))
        else:
            query.compile(resource_type, None, text)
    assert raised.value.detail


# `attribute eq "text"` takes a shortcut (app/listing.py `_equality`): the query compiled once
# per attribute, the text bound as the general compiler binds it. It must give what compiling
# the filter itself gives, or step aside (None) for the general path.
EQUALITY_ATTRIBUTES = [
    "userName", "USERNAME", "externalId", "id", "displayName", "title", "nickName", "locale",
    "password", "active", "emails", "name", "meta", "schemas", "groups", "members",
    "employeeNumber", "manager", "userType", "profileUrl", "nosuch", "timezone",
]  # fmt: skip


@given(
    type_name=st.sampled_from(["User", "Group"]),
    attribute=st.sampled_from(EQUALITY_ATTRIBUTES),
    text=st.text(),
    spacing=st.sampled_from([" ", "  ", "\t", " \n"]),
    operator=st.sampled_from(["eq", "EQ", "Eq"]),
    ascii_only=st.booleans(),
)
def test_an_equality_filter_compiles_as_the_general_path(
    type_name: str, attribute: str, text: str, spacing: str, operator: str, ascii_only: bool
) -> None:
    literal = json.dumps(text, ensure_ascii=ascii_only)
    filter_text = f"{spacing}{attribute}{spacing}{operator}{spacing}{literal}{spacing}"
    key = ("sqlite", registry(), type_name)
    shortcut = listing._equality(*key, filter_text, None, None)
    try:
        general = listing._compiled.__wrapped__(*key, filter_text, None, None)
    except errors.ScimError:
        assert shortcut is None
        return
    if shortcut is not None:
        assert (shortcut[0], dict(shortcut[1]), shortcut[2]) == (
            general[0],
            dict(general[1]),
            general[2],
        )


@pytest.mark.parametrize(
    ("type_name", "filter_text", "taken"),
    [
        ("User", 'userName eq "Bjensen@Example.com"', True),  # Okta's lookup
        ("User", 'externalId eq "00u1"', True),  # Entra's
        ("Group", 'displayName eq "Sales"', True),  # group push
        ("User", 'employeeNumber eq "701984"', True),  # an extension's, unqualified
        ("User", 'meta.resourceType eq "User"', False),  # decided when compiled
        ("User", 'emails eq "a@b"', False),  # multi-valued
        ("User", 'active eq "true"', False),  # not text: an invalidFilter
        ("User", 'userName eq "a" and active eq true', False),
        ("User", 'userName co "a"', False),
        ("User", 'userName eq "a\nb"', False),  # a raw line feed: the parser refuses it
        ("User", 'userName eq "\\x41"', False),  # not a JSON escape
        ("User", 'userName eq "\\ud800"', False),  # a lone surrogate: the general path's
    ],
)
def test_which_filters_take_the_equality_shortcut(
    type_name: str, filter_text: str, taken: bool
) -> None:
    shortcut = listing._equality("sqlite", registry(), type_name, filter_text, None, None)
    assert (shortcut is not None) == taken

"""Filters compiled to SQL: results over HTTP, parameter binding and index use."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import sqlite_utils

from app import database, filters, migrations, query
from app.resources import GROUP, USER
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
        (GROUP, "groups", 'members.value eq "x"', "ix_group_members_user"),
        (USER, "users", 'groups.value eq "x"', "group_members"),
    ],
)
def test_hot_filters_use_an_index(
    client: ScimClient, resource_type: Any, table: str, text: str, index: str
) -> None:
    compiled = query.compile(resource_type, filters.parse(text))
    plan = (
        database.connection()
        .execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE {compiled.where}", compiled.params
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

"""Security events (app/events.py, app/outbox.py): every write path's SETs, and none for a
write that fails or a read. Each SET here is read back through POST /events/poll and checked
with PyJWT, a JOSE library independent of the one that signed it (joserfc)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from app import config, events
from tests.conftest import GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA, ScimClient

SECRET = "an-hs256-secret-of-32-bytes-long"
EVENTS_TOKEN = "events-token"
EVENTS_AUTH = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
PROV = "urn:ietf:params:scim:event:prov:"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def events_client(make_client: Callable[..., ScimClient]) -> ScimClient:
    """A client over a fresh database with events on (poll), redelivered at once."""
    return make_client(
        events_token=EVENTS_TOKEN, events_secret=SECRET, events_redeliver_seconds=0.0
    )


def poll(client: ScimClient, base: str = "/scim/v2", **body: Any) -> Any:
    """POST <base>/events/poll with the events token; returnImmediately unless said otherwise."""
    body.setdefault("returnImmediately", True)
    return client.http.post(f"{base}/events/poll", json=body, headers=EVENTS_AUTH)


def drain(client: ScimClient) -> list[dict[str, Any]]:
    """Every due SET's claims, verified with PyJWT, oldest first; all acknowledged."""
    answer = poll(client, maxEvents=1000)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    found = [verify(token) for token in answer.json()["sets"].values()]
    if found:
        poll(client, maxEvents=0, ack=[c["jti"] for c in found])
    return found


def verify(token: str, key: Any = SECRET, algorithm: str = "HS256") -> dict[str, Any]:
    """A SET checked with PyJWT: signature, header and the RFC 8417 / RFC 9967 shape."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt" and header["alg"] == algorithm
    assert algorithm == "none" or header["kid"]
    options = {"require": ["iss", "iat", "jti"], "verify_aud": False}
    if algorithm == "none":
        claims = jwt.decode(token, options={"verify_signature": False})
    else:
        claims = jwt.decode(token, key, algorithms=[algorithm], options=options)
    assert "sub" not in claims  # RFC 9967 §2.2: sub_id, never sub
    assert claims["sub_id"]["format"] == "scim" and claims["sub_id"]["uri"].startswith("/")
    assert claims["txn"] and claims["toe"] and claims["events"]
    for uri, payload in claims["events"].items():
        assert uri == uri.lower() and uri in events.EVENT_URIS
        # RFC 9967 §2.3: data exactly for the full events, attributes for the notices.
        assert ("data" in payload) == uri.endswith(":full")
        assert ("attributes" in payload) == uri.endswith(":notice")
    return dict(claims)


def kinds(claims: dict[str, Any]) -> list[str]:
    """The event URIs of a SET without their common prefix, e.g. ["patch:full", "deactivate"]."""
    return [uri.removeprefix(PROV) for uri in claims["events"]]


def user_body(user_name: str, **more: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, "active": True, **more}


# --- every write path ------------------------------------------------------------------------


def test_user_create_put_patch_delete(events_client: ScimClient) -> None:
    c = events_client
    user = c.create_user("alice", externalId="ext-1", password="s3cret!pw")
    body = user_body("alice", externalId="ext-1", title="Boss", password="n3w!pw")
    assert c.put(f"/Users/{user['id']}", body).status_code == 200
    patch = [{"op": "replace", "value": {"active": False, "password": "x!y"}}]
    assert c.patch(f"/Users/{user['id']}", patch).status_code == 200
    assert c.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": True}])
    assert c.delete(f"/Users/{user['id']}").status_code == 204
    created, put, deactivated, activated, deleted = drain(c)
    subject = {"format": "scim", "uri": f"/Users/{user['id']}", "externalId": "ext-1"}
    assert all(s["sub_id"] == subject for s in (created, put, deactivated, activated, deleted))
    assert kinds(created) == ["create:full"]
    data = created["events"][f"{PROV}create:full"]["data"]
    assert data["userName"] == "alice" and data["id"] == user["id"] and "password" not in data
    assert created["events"][f"{PROV}create:full"]["version"] == 'W/"1"'
    assert kinds(put) == ["put:full"]
    assert put["events"][f"{PROV}put:full"] == {
        "data": {k: v for k, v in body.items() if k != "password"},
        "version": 'W/"2"',
    }
    assert kinds(deactivated) == ["patch:full", "deactivate"]
    assert deactivated["events"][f"{PROV}patch:full"]["data"] == {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    assert kinds(activated) == ["patch:full", "activate"]
    assert kinds(deleted) == ["delete"] and deleted["events"][f"{PROV}delete"] == {}
    assert len({s["txn"] for s in (created, put, deactivated, activated, deleted)}) == 5
    assert "n3w!pw" not in str(put) and "x!y" not in str(deactivated)


def test_a_password_only_patch_keeps_no_password(events_client: ScimClient) -> None:
    user = events_client.create_user("bob")
    drain(events_client)
    patch = [{"op": "replace", "path": "password", "value": "p4ss!word"}]
    assert events_client.patch(f"/Users/{user['id']}", patch).status_code == 200
    (claims,) = drain(events_client)
    assert claims["events"][f"{PROV}patch:full"]["data"]["Operations"] == []
    assert "p4ss!word" not in str(claims)


def test_group_writes_and_membership(events_client: ScimClient) -> None:
    c = events_client
    alice, bob = c.create_user("alice")["id"], c.create_user("bob")["id"]
    group = c.create_group("Team", [alice])
    add = [{"op": "add", "path": "members", "value": [{"value": bob}]}]
    assert c.patch(f"/Groups/{group['id']}", add).status_code in (200, 204)
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Team 2", "members": [{"value": alice}]}
    assert c.put(f"/Groups/{group['id']}", body).status_code == 200
    assert c.delete(f"/Groups/{group['id']}").status_code == 204
    _, _, created, patched, put, deleted = drain(c)
    assert {s["sub_id"]["uri"] for s in (created, patched, put, deleted)} == {
        f"/Groups/{group['id']}"
    }
    data = created["events"][f"{PROV}create:full"]["data"]
    assert data["displayName"] == "Team" and data["members"] == [{"value": alice}]
    assert patched["events"][f"{PROV}patch:full"] == {
        "data": {"schemas": [PATCH_SCHEMA], "Operations": add},
        "version": 'W/"2"',
    }
    assert put["events"][f"{PROV}put:full"]["data"] == body
    assert kinds(deleted) == ["delete"]


def test_a_deleted_user_leaves_its_groups_in_the_same_txn(events_client: ScimClient) -> None:
    c = events_client
    alice = c.create_user("alice")["id"]
    one, two = c.create_group("One", [alice]), c.create_group("Two", [alice])
    drain(c)
    assert c.delete(f"/Users/{alice}").status_code == 204
    deleted, *left = drain(c)
    assert kinds(deleted) == ["delete"] and deleted["sub_id"]["uri"] == f"/Users/{alice}"
    assert sorted(s["sub_id"]["uri"] for s in left) == sorted(
        [f"/Groups/{one['id']}", f"/Groups/{two['id']}"]
    )
    for claims in left:
        payload = claims["events"][f"{PROV}patch:full"]
        assert payload["data"]["Operations"] == [
            {"op": "remove", "path": f'members[value eq "{alice}"]'}
        ]
        assert payload["version"] == 'W/"2"'  # the version the group has now
    assert {s["txn"] for s in [deleted, *left]} == {deleted["txn"]}


def test_bulk_operations_share_a_txn_and_a_failed_one_has_no_event(
    events_client: ScimClient,
) -> None:
    c = events_client
    c.create_user("taken")
    drain(c)
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("new")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("TAKEN")},
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g",
            "data": {
                "schemas": [GROUP_SCHEMA],
                "displayName": "G",
                "members": [{"value": "bulkId:a"}],
            },
        },
        {
            "method": "PATCH",
            "path": "/Users/bulkId:a",
            "data": {
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        },
        {"method": "DELETE", "path": "/Users/nobody"},
    ]
    answer = c.post("/Bulk", {"schemas": [BULK], "Operations": operations})
    statuses = [op["status"] for op in answer.json()["Operations"]]
    assert statuses == ["201", "409", "201", "200", "404"]
    found = drain(c)
    assert [kinds(s) for s in found] == [
        ["create:full"],
        ["create:full"],
        ["patch:full", "deactivate"],
    ]
    assert len({s["txn"] for s in found}) == 1
    user_id = found[0]["sub_id"]["uri"].rsplit("/", 1)[1]
    assert found[1]["events"][f"{PROV}create:full"]["data"]["members"] == [{"value": user_id}]


def test_notice_events_name_the_changed_attributes(make_client: Callable[..., ScimClient]) -> None:
    c = make_client(events_token=EVENTS_TOKEN, events_secret=SECRET, events_mode="notice")
    user = c.create_user("carol", title="Dev", name={"givenName": "Carol"})
    body = user_body("carol", title="Lead", name={"givenName": "Carol"}, password="pw!pw")
    c.put(f"/Users/{user['id']}", body)
    c.patch(
        f"/Users/{user['id']}",
        [
            {"op": "replace", "path": "name.familyName", "value": "X"},
            {"op": "add", "path": 'emails[type eq "work"].value', "value": "c@example.com"},
        ],
    )
    group = c.create_group("G", [user["id"]])
    c.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "members"}])
    created, put, patched, group_created, group_patched = drain(c)
    attributes = created["events"][f"{PROV}create:notice"]["attributes"]
    assert set(attributes) == {"userName", "active", "title", "name"}
    assert put["events"][f"{PROV}put:notice"]["attributes"] == ["title", "password"]
    assert patched["events"][f"{PROV}patch:notice"]["attributes"] == [
        "name.familyName",
        "emails.value",
    ]
    assert set(group_created["events"][f"{PROV}create:notice"]["attributes"]) == {
        "displayName",
        "members",
    }
    assert group_patched["events"][f"{PROV}patch:notice"]["attributes"] == ["members"]
    assert c.get("/ServiceProviderConfig").json()["securityEvents"]["eventUris"] == [
        f"{PROV}create:notice",
        f"{PROV}put:notice",
        f"{PROV}patch:notice",
        f"{PROV}delete",
        f"{PROV}activate",
        f"{PROV}deactivate",
    ]


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(lambda c, u: c.post("/Users", user_body("ALICE")), id="409 duplicate"),
        pytest.param(
            lambda c, u: c.patch(
                f"/Users/{u}",
                [{"op": "replace", "path": "title", "value": "x"}],
                headers={"If-Match": 'W/"9"'},
            ),
            id="412 stale If-Match",
        ),
        pytest.param(lambda c, u: c.delete("/Users/nobody"), id="404 delete"),
        pytest.param(
            lambda c, u: c.patch(f"/Users/{u}", [{"op": "remove", "path": "userName"}]),
            id="400 patch",
        ),
        pytest.param(
            lambda c, u: c.post(
                "/Groups",
                {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "nobody"}]},
            ),
            id="400 member is no user",
        ),
        pytest.param(lambda c, u: c.get(f"/Users/{u}"), id="a read"),
        pytest.param(lambda c, u: c.get('/Users?filter=userName eq "alice"'), id="a search"),
    ],
)
def test_a_failed_write_or_a_read_has_no_event(
    events_client: ScimClient, failing: Callable[[ScimClient, str], Any]
) -> None:
    user_id = events_client.create_user("alice")["id"]
    drain(events_client)
    failing(events_client, user_id)
    assert drain(events_client) == []


def test_events_are_off_without_a_receiver(client: ScimClient) -> None:
    client.create_user("alice")
    from app import outbox

    assert outbox.last_seq() == 0
    assert "securityEvents" not in client.get("/ServiceProviderConfig").json()
    answer = client.http.post("/scim/v2/events/poll", json={}, headers=EVENTS_AUTH)
    assert answer.status_code == 404
    answer = client.http.post("/scim/v2/events/poll", json={})
    assert answer.status_code == 404  # no token configured: not even a 401


def test_each_resource_changes_in_order(events_client: ScimClient) -> None:
    c = events_client
    users = [c.create_user(f"u{n}")["id"] for n in range(3)]
    for n in range(5):
        for user_id in users:
            c.patch(f"/Users/{user_id}", [{"op": "replace", "path": "title", "value": f"t{n}"}])
    found = drain(c)
    for user_id in users:
        mine = [s for s in found if s["sub_id"]["uri"] == f"/Users/{user_id}"]
        versions = [next(iter(s["events"].values()))["version"] for s in mine]
        assert versions == [f'W/"{n}"' for n in range(1, 7)]


# --- signing ---------------------------------------------------------------------------------


def _pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_sets_signed_with_a_key_file_verify_with_its_public_key(
    make_client: Callable[..., ScimClient], tmp_path: Any, algorithm: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "RS256":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(_pem(key))
    c = make_client(
        events_token=EVENTS_TOKEN,
        events_key_file=str(tmp_path / "key.pem"),
        events_issuer="https://scim.example.com",
        events_audience=("https://app.example.com",),
        events_key_id="key-1",
    )
    c.create_user("alice")
    (token,) = poll(c).json()["sets"].values()
    assert jwt.get_unverified_header(token)["kid"] == "key-1"
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=[algorithm],
        audience="https://app.example.com",
        issuer="https://scim.example.com",
    )
    verify(token, key.public_key(), algorithm)
    assert claims["aud"] == "https://app.example.com"


def test_unsigned_sets_only_when_asked_for(make_client: Callable[..., ScimClient]) -> None:
    with pytest.raises(ValueError, match="signing key"):
        events.check(config.get().with_overrides(events_token=EVENTS_TOKEN))
    c = make_client(events_token=EVENTS_TOKEN, events_alg="none")
    c.create_user("alice")
    (token,) = poll(c).json()["sets"].values()
    assert token.endswith(".")  # RFC 7515 §A.5: an empty signature
    verify(token, algorithm="none")


def test_the_events_token_and_the_scim_tokens_stay_apart(events_client: ScimClient) -> None:
    answer = events_client.http.post(
        "/scim/v2/events/poll", json={}, headers={"Authorization": "Bearer test-token"}
    )
    assert answer.status_code == 401
    assert events_client.get("/Users", headers=EVENTS_AUTH).status_code == 401
    same = config.get().with_overrides(events_token="test-token", events_secret=SECRET)
    with pytest.raises(ValueError, match="differ"):
        events.check(same)


def test_a_key_that_does_not_fit_stops_the_start(tmp_path: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    (tmp_path / "p384.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))
    settings = config.get().with_overrides(
        events_token=EVENTS_TOKEN, events_key_file=str(tmp_path / "p384.pem")
    )
    with pytest.raises(ValueError, match="does not fit"):
        events.check(settings)
    mismatched = settings.with_overrides(events_key_file=None, events_secret=SECRET)
    with pytest.raises(ValueError, match="does not fit"):
        events.check(mismatched.with_overrides(events_alg="RS256"))

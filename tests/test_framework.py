"""app/framework.py's DirectCall answers as Connexion's decorators would: the same requests,
sent once through each, get the same status, headers and body."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import framework, spec
from tests.conftest import GROUP_SCHEMA, USER_SCHEMA, ScimClient

BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNCOMPARED = {"date", "x-request-id"}


def exchanges(client: ScimClient, tag: str) -> list[tuple[int, dict[str, str], str]]:
    """A client's usual requests, good and bad, on resources of its own named after `tag`;
    each answer with what differs between two runs (ids, times, the tag) written out."""
    name = f"{tag}@example.com"
    user = client.create_user(name, name={"givenName": "Ann", "familyName": tag})
    path = f"/Users/{user['id']}"
    group = client.post(
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": tag, "members": [{"value": user["id"]}]},
    ).json()
    other = client.create_user(f"{tag}.other@example.com")
    member = [{"op": "add", "path": "members", "value": [{"value": other["id"]}]}]
    sent: list[Any] = [
        client.get(path),
        client.get(path, headers={"If-None-Match": user["meta"]["version"]}),
        client.get(path, params={"attributes": "userName,emails"}),
        client.get("/Users", params={"filter": f'userName eq "{name.upper()}"', "count": 5}),
        client.get("/Users", params={"startIndex": 2, "count": 1, "sortBy": "userName"}),
        client.get("/Users", params={"filter": "userName zz 1"}),  # invalidFilter
        client.get("/Users", params={"count": "many"}),  # a parameter of the wrong type
        client.post(
            "/Users/.search",
            {"schemas": [SEARCH_SCHEMA], "filter": f'name.familyName eq "{tag}"'},
        ),
        client.post("/.search", {"schemas": [SEARCH_SCHEMA], "count": 1}),
        client.patch(path, [{"op": "replace", "value": {"active": False}}]),
        client.patch(path, [{"op": "jump", "path": "active"}]),  # not an op
        client.put(path, {"schemas": [USER_SCHEMA], "userName": name, "nickName": "Nan"}),
        client.put(path, {"schemas": [USER_SCHEMA]}, headers={"If-Match": 'W/"1"'}),
        client.patch(f"/Groups/{group['id']}", member),
        client.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"}),
        client.get("/Groups", params={"filter": f'displayName eq "{tag}"'}),
        client.post(
            "/Bulk",
            {
                "schemas": [BULK_SCHEMA],
                "Operations": [
                    {
                        "method": "POST",
                        "path": "/Users",
                        "bulkId": "b1",
                        "data": {"schemas": [USER_SCHEMA], "userName": f"{tag}.bulk"},
                    }
                ],
            },
        ),
        client.get("/ServiceProviderConfig"),
        client.get("/ResourceTypes/User"),
        client.get("/Schemas/" + USER_SCHEMA),
        client.get("/Me"),
        client.delete(f"/Groups/{group['id']}"),
        client.delete(path),
        client.delete(path),
        client.request(
            "POST",
            "/Users",
            content=b"{not json",
            headers={"Content-Type": "application/scim+json"},
        ),
    ]
    return [(r.status_code, _headers(r, tag), _written_out(r.text, tag)) for r in sent]


def _headers(response: Any, tag: str) -> dict[str, str]:
    return {
        key: _written_out(value, tag)
        for key, value in response.headers.items()
        if key not in UNCOMPARED
    }


def _written_out(text: str, tag: str) -> str:
    text = UUID.sub("<id>", TIMESTAMP.sub("<time>", text))
    return text.replace(tag, "<tag>")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_direct_calls_answer_as_connexion_decorators(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:  # every operation through Connexion's decorators
        patched.setattr(framework.DirectCall, "__call__", framework.DecoratedOnce.__call__)
        through_connexion = exchanges(make_client(), "alpha")

    def not_expected(*args: Any) -> None:
        raise AssertionError("a request went through Connexion's decorators")

    monkeypatch.setattr(framework.DecoratorsOnce, "decorate", not_expected)
    direct = exchanges(make_client(), "gamma")
    assert len(direct) == len(through_connexion)
    for number, (ours, theirs) in enumerate(zip(direct, through_connexion, strict=True)):
        assert ours == theirs, f"exchange {number}"


def test_every_spec_operation_is_called_directly(client: ScimClient) -> None:
    """No operation of the spec needs Connexion's decorators (a default, `**kwargs`...):
    DirectCall would fall back to them silently, which would only show in the benchmark."""
    assert client.get("/ServiceProviderConfig").status_code == 200  # the app is built now
    apis = client.http.app.app._middleware_app.apis  # the Recorder's app (tests/conftest.py)
    operations = {
        key: operation
        for served in apis.values()
        for api in served
        for key, operation in api.operations.items()
    }
    assert set(operations) == {
        operation["operationId"]
        for methods in spec.document()["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for operation_id, operation in operations.items():
        assert isinstance(operation, framework.DirectCall), operation_id
        assert operation._direct, operation_id

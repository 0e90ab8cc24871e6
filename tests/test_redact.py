"""Secrets out of the access log and the journal (app/redact.py): tables of what goes in and
what may come out."""

from __future__ import annotations

import json

import pytest

from app import redact

R = redact.REDACTED
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"userName": "a", "password": "hunter2"}, {"userName": "a", "password": R}),
        ({"Password": "hunter2"}, {"Password": R}),
        ({f"{USER}:password": "hunter2"}, {f"{USER}:password": R}),
        ({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": "x1"}}]},
         {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": R}}]}),
        ({"Operations": [{"op": "replace", "path": "password", "value": "x1"}]},
         {"Operations": [{"op": "replace", "path": "password", "value": R}]}),
        ({"Operations": [{"op": "Replace", "path": "PASSWORD", "value": "x1"}]},
         {"Operations": [{"op": "Replace", "path": "PASSWORD", "value": R}]}),
        ({"Operations": [{"method": "POST", "bulkId": "q", "data": {"userName": "b", "password": "x2"}}]},
         {"Operations": [{"method": "POST", "bulkId": "q", "data": {"userName": "b", "password": R}}]}),
        ({"filter": 'password eq "hunter2"'}, {"filter": f'password eq "{R}"'}),
        ({"access_token": "abc", "client_secret": "def"}, {"access_token": R, "client_secret": R}),
        ({"userName": "token-holder@example.com", "active": True},
         {"userName": "token-holder@example.com", "active": True}),
        ({"Operations": [{"op": "replace", "path": "title", "value": "Secret keeper"}]},
         {"Operations": [{"op": "replace", "path": "title", "value": "Secret keeper"}]}),
    ],
    ids=["password", "any-case", "urn-qualified", "pathless-patch", "patch-path", "patch-path-case",
         "bulk-data", "filter-literal", "token-names", "innocent-token-word", "innocent-value"],
)  # fmt: skip
def test_json_bodies(sent: object, kept: object) -> None:
    assert json.loads(redact.body(json.dumps(sent).encode())) == kept


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b'{"userName": "plain"}', '{"userName": "plain"}'),  # kept byte for byte
        (b"", ""),
        (b'{"password": "hunter2"', "[withheld: 22 bytes that are not JSON and mention a secret]"),
        (b"password=hunter2", "[withheld: 16 bytes that are not JSON and mention a secret]"),
        (b'{"userName": "\xff"}', '{"userName": "\ufffd"}'),
    ],
    ids=["no-secret", "empty", "malformed", "form", "not-utf8"],
)
def test_raw_bodies(raw: bytes, kept: str) -> None:
    assert redact.body(raw) == kept


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"", ""),
        (b"filter=userName+eq+%22a%40b.c%22&count=1", 'filter=userName eq "a@b.c"&count=1'),
        (b"startIndex=1&count=100", "startIndex=1&count=100"),
        (b"access_token=abc&count=1", f"access_token={R}&count=1"),
        (b"filter=password%20eq%20%22hunter2%22", f'filter=password eq "{R}"'),
        (b"filter=userName%20eq%20%22a%0a%22", 'filter=userName eq "a\n"'),
    ],
    ids=[
        "none",
        "lookup",
        "paging",
        "token-param",
        "password-filter",
        "control-kept-for-printable",
    ],
)
def test_queries(raw: bytes, shown: str) -> None:
    assert redact.query(raw) == shown


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ((b"authorization", b"Bearer s3cret"), ("authorization", f"Bearer {R}")),
        ((b"authorization", b"s3cret"), ("authorization", f"{R} (a bare token)")),
        ((b"authorization", b"Basic dXNlcjpwdw=="), ("authorization", f"Basic {R}")),
        ((b"cookie", b"scim_console=abc"), ("cookie", R)),
        ((b"x-api-key", b"abc"), ("x-api-key", R)),
        ((b"user-agent", b"Okta SCIM Client 1.0.0"), ("user-agent", "Okta SCIM Client 1.0.0")),
    ],
    ids=["bearer", "bare", "basic", "cookie", "api-key", "user-agent"],
)
def test_headers(header: tuple[bytes, bytes], shown: tuple[str, str]) -> None:
    assert redact.headers([header]) == [shown]


def test_printable_escapes_control_characters() -> None:
    assert redact.printable("a\nb\x1b[31m") == "a\\x0ab\\x1b[31m"

"""Filter text to AST and back to canonical text (RFC 7644 §3.4.2.2)."""

from __future__ import annotations

import pytest

from app import errors, filters

# (filter, canonical form): every example filter of RFC 7644 §3.4.2.2, then precedence,
# letter case, URN paths, escapes and literals.
VALID = [
    ('userName Eq "john"', 'userName eq "john"'),
    ('Username eq "john"', 'Username eq "john"'),
    ('userName eq "bjensen"', 'userName eq "bjensen"'),
    ('name.familyName co "O\'Malley"', 'name.familyName co "O\'Malley"'),
    ('userName sw "J"', 'userName sw "J"'),
    (
        'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
        'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    ),
    ("title pr", "title pr"),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', 'meta.lastModified gt "2011-05-13T04:42:34Z"'),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', 'meta.lastModified ge "2011-05-13T04:42:34Z"'),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', 'meta.lastModified lt "2011-05-13T04:42:34Z"'),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', 'meta.lastModified le "2011-05-13T04:42:34Z"'),
    ('title pr and userType eq "Employee"', 'title pr and userType eq "Employee"'),
    ('title pr or userType eq "Intern"', 'title pr or userType eq "Intern"'),
    (
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    ),
    (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    ),
    (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    ),
    (
        'userType eq "Employee" and (emails.type eq "work")',
        'userType eq "Employee" and emails.type eq "work"',
    ),
    (
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    ),
    (
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    ),
    # precedence: and binds tighter than or; parentheses survive only where they matter
    ("a pr or b pr and c pr", "a pr or b pr and c pr"),
    ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
    ("((a pr))", "a pr"),
    ("NOT (a pr) AND b PR", "not (a pr) and b pr"),
    # literals
    ("active eq true", "active eq true"),
    ("active eq FALSE", "active eq false"),
    ("nickName eq null", "nickName eq null"),
    ("x eq 42", "x eq 42"),
    ("x gt -1.5", "x gt -1.5"),
    (r'displayName eq "quote \" and backslash \\"', r'displayName eq "quote \" and backslash \\"'),
    ('displayName eq "tab\\t and unicode \\u00e9"', 'displayName eq "tab\\t and unicode \\u00e9"'),
    (
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
    ),
    ('members[value eq "2819c223"]', 'members[value eq "2819c223"]'),
    ('  userName   eq   "x"  ', 'userName eq "x"'),
]

INVALID = [
    "",
    "userName",
    "userName eq",
    'userName xx "john"',
    "userName eq john",
    '"john" eq userName',
    "(userName pr",
    "userName pr)",
    'userName eq "unterminated',
    "userName pr and",
    "and userName pr",
    'emails[type eq "work"',
    "emails[]",
    "not userName pr",
    'userName eq "a" userName eq "b"',
    "name..familyName pr",
    "1abc pr",
    "userName eq 'single'",
]


@pytest.mark.parametrize(("text", "canonical"), VALID, ids=[v[0][:50] for v in VALID])
def test_parse_prints_canonical(text: str, canonical: str) -> None:
    node = filters.parse(text)
    assert str(node) == canonical
    assert filters.parse(str(node)) == node  # the canonical form parses to the same AST


@pytest.mark.parametrize("text", INVALID)
def test_invalid_filter(text: str) -> None:
    with pytest.raises(errors.InvalidFilter) as raised:
        filters.parse(text)
    assert raised.value.detail


def test_and_binds_tighter_than_or() -> None:
    node = filters.parse("a pr or b pr and c pr")
    assert isinstance(node, filters.Or)
    assert isinstance(node.right, filters.And)


def test_urn_path_splits_at_the_last_colon() -> None:
    path = filters.parse_path(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
    )
    assert path == filters.AttrPath(
        "manager", "value", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    )

"""The storage map: which table, column and index holds each SCIM attribute. Pure data.

This is the only module that names a table or a column; `store`, `query`, `migrations`'
callers and `bench/` read it. The tables themselves are created by app/migrations.py, and
tests/test_tables.py holds this map to the migrated schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """A column standing in for an attribute; `folded` columns hold casefold()ed text."""

    name: str
    folded: bool = False


@dataclass(frozen=True)
class ValueIndex:
    """`<attribute>.value eq "x"` answered from an index: `owner` ids of rows where `value` = x."""

    table: str
    value: str
    owner: str
    folded: bool = False


@dataclass(frozen=True)
class Membership:
    """A multi-valued attribute kept in the membership table: this resource's id is in `own`,
    the attribute's `value` (the other resource's id) in `other`."""

    own: str
    other: str


MEMBERS_TABLE = "group_members"
GROUP_MEMBERS = Membership(own="group_id", other="user_id")  # Group.members
USER_GROUPS = Membership(own="user_id", other="group_id")  # User.groups (read-only)
EMAILS_TABLE = "user_emails"
EMAILS = ValueIndex(EMAILS_TABLE, value="value_key", owner="user_id", folded=True)


@dataclass(frozen=True)
class Table:
    """Where one resource type is stored.

    `resource` holds the SCIM JSON without id, meta and the attributes `stored_elsewhere`;
    `key` is a unique or indexed column derived from `key_attribute` by casefold() (RFC 7643
    §4.1.1: userName is caseExact false; casefold() folds beyond ASCII, where SQLite's NOCASE
    folds ASCII only). `columns` maps lower-case SCIM paths to columns that answer filters and
    sorting on them (id, the key and externalId are indexed); `memberships` and
    `value_indexes` are keyed by lower-case attribute name.
    """

    name: str
    key: Column
    key_attribute: str
    columns: dict[str, Column]
    memberships: dict[str, Membership] = field(default_factory=dict)
    value_indexes: dict[str, ValueIndex] = field(default_factory=dict)
    kept_values: tuple[str, ...] = ()  # value_indexes the store rewrites on every write
    stored_elsewhere: frozenset[str] = frozenset()
    password: str | None = None  # the column of the write-only password's hash
    seq_index: str = ""  # the (tenant, creation order) index deep pages skip through
    tenant: str = "tenant"  # every statement is scoped by this column (app/tenancy.py)


def _common(key: Column, key_path: str) -> dict[str, Column]:
    return {
        "id": Column("id"),
        key_path: key,
        "externalid": Column("external_id"),
        "meta.created": Column("created"),
        "meta.lastmodified": Column("last_modified"),
    }


USERS = Table(
    name="users",
    key=Column("user_name_key", folded=True),
    key_attribute="userName",
    columns=_common(Column("user_name_key", folded=True), "username"),
    memberships={"groups": USER_GROUPS},
    value_indexes={
        "emails": EMAILS,
        "groups": ValueIndex(MEMBERS_TABLE, value="group_id", owner="user_id"),
    },
    kept_values=("emails",),
    stored_elsewhere=frozenset({"password", "groups"}),
    password="password_hash",
    seq_index="ix_users_seq",
)
GROUPS = Table(
    name="groups",
    key=Column("display_name_key", folded=True),
    key_attribute="displayName",
    columns=_common(Column("display_name_key", folded=True), "displayname"),
    memberships={"members": GROUP_MEMBERS},
    value_indexes={"members": ValueIndex(MEMBERS_TABLE, value="user_id", owner="group_id")},
    stored_elsewhere=frozenset({"members"}),
    seq_index="ix_groups_seq",
)
TABLES: dict[str, Table] = {"User": USERS, "Group": GROUPS}
# Tenants and their tokens (hashes only), app/tenants.py.
TENANTS_TABLE = "tenants"
TOKENS_TABLE = "tenant_tokens"
# The columns every resource table has beside its key (app/migrations.py step 1).
ROW_COLUMNS = ("id", "resource", "version", "created", "last_modified")


def key_of(table: Table, resource: dict[str, object]) -> str:
    """The derived key column's value for a resource about to be stored."""
    return str(resource[table.key_attribute]).casefold()


@dataclass(frozen=True)
class Outbox:
    """The security events' tables (app/outbox.py; migration steps 5 and 6).

    `events` is the outbox: one row per SET, appended in the write transaction of the change
    it describes; `seq` (never reused) is the order of the changes. `tenant` names whose change
    it was: each tenant's poll (under its base URL) reads its own rows, through the index of
    the rows not yet acknowledged. Push receivers are the server's and get every tenant's.
    """

    events: str = "events"
    errors: str = "event_errors"  # SETs a receiver refused (push 400, poll setErrs)
    receivers: str = "event_receivers"  # per push URL: the last sequence delivered, the retries
    leases: str = "event_leases"  # which process delivers (push) and prunes
    state: str = "event_state"  # counters: events dropped over SCIM_EVENTS_MAX_PENDING
    tenant: str = "tenant"  # on events: the tenant whose change it was (app/tenancy.py)
    unacked_index: str = "ix_events_unacked"  # (tenant, seq) of events not yet acknowledged


OUTBOX = Outbox()

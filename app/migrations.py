"""Schema steps, applied in order; PRAGMA user_version records how many have run.

Old steps are never edited: a schema change is a new step at the end.
"""

from __future__ import annotations

import sqlite_utils

STEPS: list[str] = [
    # 1: users, groups and membership. Resources are SCIM JSON without id/meta/password;
    # the columns beside them are what queries and uniqueness need.
    """
    CREATE TABLE users (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_name_key TEXT NOT NULL UNIQUE,  -- userName.casefold(), set by the app
        resource TEXT NOT NULL CHECK (json_valid(resource)),
        password_hash TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        external_id TEXT GENERATED ALWAYS AS (json_extract(resource, '$.externalId')) VIRTUAL
    );
    CREATE INDEX ix_users_external_id ON users(external_id);

    CREATE TABLE groups (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        display_name_key TEXT NOT NULL,  -- displayName.casefold(), set by the app
        resource TEXT NOT NULL CHECK (json_valid(resource)),  -- without members
        version INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        external_id TEXT GENERATED ALWAYS AS (json_extract(resource, '$.externalId')) VIRTUAL
    );
    CREATE INDEX ix_groups_display_name_key ON groups(display_name_key);
    CREATE INDEX ix_groups_external_id ON groups(external_id);

    CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX ix_group_members_user ON group_members(user_id, group_id);
    """,
    # 2: an index for `emails.value eq` (Okta and Entra look users up by email): each email
    # value casefolded, one row per user and value, kept by app.store on every user write.
    """
    CREATE TABLE user_emails (
        value_key TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (value_key, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX ix_user_emails_user ON user_emails(user_id);
    INSERT OR IGNORE INTO user_emails (value_key, user_id)
        SELECT casefold(json_extract(e.value, '$.value')), u.id
        FROM users u, json_each(u.resource, '$.emails') e
        WHERE json_type(e.value, '$.value') = 'text';
    """,
    # 3: narrow indexes of the creation order, so that a deep page (OFFSET) skips index
    # entries rather than whole rows (app/store.py, search).
    """
    CREATE INDEX ix_users_seq ON users(seq);
    CREATE INDEX ix_groups_seq ON groups(seq);
    """,
    # 4: tenants. Every user and group belongs to one; userName is unique per tenant, and the
    # indexes lead with the tenant so that one tenant's lookups and pages never scan another's.
    # Existing rows move to the default tenant. The tables are rebuilt (SQLite cannot change a
    # UNIQUE constraint in place; apply() runs this with foreign keys off, as SQLite's
    # ALTER TABLE documentation prescribes, and checks them before committing). A tenant's
    # tokens are kept as SHA-256 hashes only.
    """
    CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        rate_limit REAL  -- requests per second; NULL: the server's SCIM_TENANT_RATE_LIMIT
    ) WITHOUT ROWID;
    INSERT INTO tenants (name, created) VALUES ('default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    CREATE TABLE tenant_tokens (
        hash TEXT PRIMARY KEY,  -- hex SHA-256 of the token
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        prefix TEXT NOT NULL,  -- the token's first characters, to name it in `tenants revoke`
        created TEXT NOT NULL,
        last_used TEXT,
        expires TEXT
    ) WITHOUT ROWID;
    CREATE INDEX ix_tenant_tokens_tenant ON tenant_tokens(tenant);

    CREATE TABLE users_v4 (
        seq INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        id TEXT NOT NULL UNIQUE,
        user_name_key TEXT NOT NULL,  -- userName.casefold(), set by the app
        resource TEXT NOT NULL CHECK (json_valid(resource)),
        password_hash TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        external_id TEXT GENERATED ALWAYS AS (json_extract(resource, '$.externalId')) VIRTUAL,
        UNIQUE (tenant, user_name_key)
    );
    INSERT INTO users_v4 (seq, tenant, id, user_name_key, resource, password_hash, version,
                          created, last_modified)
        SELECT seq, 'default', id, user_name_key, resource, password_hash, version, created,
               last_modified FROM users;
    DROP TABLE users;
    ALTER TABLE users_v4 RENAME TO users;
    CREATE INDEX ix_users_external_id ON users(tenant, external_id);
    CREATE INDEX ix_users_seq ON users(tenant, seq);

    CREATE TABLE groups_v4 (
        seq INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        id TEXT NOT NULL UNIQUE,
        display_name_key TEXT NOT NULL,  -- displayName.casefold(), set by the app
        resource TEXT NOT NULL CHECK (json_valid(resource)),  -- without members
        version INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        external_id TEXT GENERATED ALWAYS AS (json_extract(resource, '$.externalId')) VIRTUAL
    );
    INSERT INTO groups_v4 (seq, tenant, id, display_name_key, resource, version, created,
                           last_modified)
        SELECT seq, 'default', id, display_name_key, resource, version, created, last_modified
        FROM groups;
    DROP TABLE groups;
    ALTER TABLE groups_v4 RENAME TO groups;
    CREATE INDEX ix_groups_display_name_key ON groups(tenant, display_name_key);
    CREATE INDEX ix_groups_external_id ON groups(tenant, external_id);
    CREATE INDEX ix_groups_seq ON groups(tenant, seq);
    """,
    # 5: the security events outbox (app/outbox.py, app/tables.py OUTBOX). No index beside the
    # primary key, so that appending an event writes few pages: an ack finds its row by the
    # sequence its jti starts with, and the poll reads from the floor kept in event_state.
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,  -- never reused: the newest row is never deleted
        jti TEXT NOT NULL,  -- "<seq>-<random>"
        claims TEXT NOT NULL,  -- the SET's claims as JSON, signed when delivered
        created REAL NOT NULL,  -- Unix time, the SET's iat
        offered REAL,  -- when last offered to the poll receiver
        acked REAL  -- when the poll receiver acknowledged it (or reported it in setErrs)
    );
    CREATE TABLE event_errors (
        seq INTEGER NOT NULL,
        receiver TEXT NOT NULL,  -- "poll" or a push URL
        err TEXT NOT NULL,
        description TEXT,
        at REAL NOT NULL
    );
    CREATE TABLE event_receivers (
        url TEXT PRIMARY KEY,
        delivered INTEGER NOT NULL DEFAULT 0,  -- the last sequence delivered or refused
        attempts INTEGER NOT NULL DEFAULT 0,  -- failed attempts at the next one
        next_attempt REAL NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE TABLE event_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE TABLE event_state (
        name TEXT PRIMARY KEY,  -- "poll_floor": every event up to it is acknowledged,
        value INTEGER NOT NULL  -- "dropped": events dropped over SCIM_EVENTS_MAX_PENDING
    );
    """,
    # 6: each tenant polls its own events. The index holds only the events its poll receiver
    # has not acknowledged (a bounded few), so a poll, and a waiting poll's look for new ones,
    # read that tenant's due events without walking the acknowledged ones; the poll floor that
    # did this for one shared feed goes.
    """
    ALTER TABLE events ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX ix_events_unacked ON events(tenant, seq) WHERE acked IS NULL;
    DELETE FROM event_state WHERE name = 'poll_floor';
    """,
]


def apply(db: sqlite_utils.Database) -> int:
    """Run the steps this database has not seen yet, each in its own write transaction.

    Foreign keys are off while steps run, so that a step may rebuild a table (SQLite's
    "making other kinds of table schema changes" procedure); each step's result is checked
    with `PRAGMA foreign_key_check` before it commits. The caller turns them on afterwards.
    """
    conn = db.conn
    conn.execute("PRAGMA foreign_keys=OFF")  # not in a transaction: the pragma is ignored there
    while True:
        conn.execute("BEGIN IMMEDIATE")  # serialises workers migrating the same file
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(STEPS):
                conn.execute("COMMIT")
                return int(version)
            for statement in _statements(STEPS[version]):
                conn.execute(statement)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration {version + 1} breaks foreign keys: {broken[:5]}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first, so split on the statement ends.
    return [s.strip() for s in script.split(";\n") if s.strip()]

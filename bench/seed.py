"""The seeding fast path: rows written into the SQLite file by the app's own store.

Run as its own process (the bench calls it through `seed()` and `prune()` below), before the
server starts, so the rows have exactly the format the app writes:

    python bench/seed.py seed DB USERS MEMBERS MANIFEST  # users, groups Big, Empty, 20 small
    python bench/seed.py prune DB PREFIX                 # delete users whose userName has PREFIX

With SCIM_SCHEMAS_DIR set (the bench sets examples/schemas for `custom_lookup`), each user also
carries the example's custom extension, with a unique, indexed `employeeId`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SMALL_GROUPS = 20
SMALL_GROUP_SIZE = 5
ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"  # examples/schemas/acme_user.json


@dataclass(frozen=True)
class Manifest:
    """What was seeded, for the Lua scripts: users as (id, userName) and the groups."""

    users: list[tuple[str, str]]
    big_group: str
    big_members: list[str]
    empty_group: str
    group_names: list[str]
    # BENCH_TENANTS: the tenant the tenant_lookup scenario asks, its token and its userNames.
    tenant: str = ""
    tenant_token: str = ""
    tenant_names: list[str] = field(default_factory=list)


def seed(
    db: Path | str,
    users: int,
    members: int,
    manifest: Path,
    schemas_dir: str | None = None,
    tenants: str = "",
) -> Manifest:
    """Seed a fresh database in a child process and return what it wrote; `tenants` is
    BENCH_TENANTS ("100:1000": 100 more tenants of 1,000 users each, beside the default one)."""
    _child(schemas_dir, "seed", str(db), str(users), str(members), str(manifest), tenants)
    data = json.loads(manifest.read_text())
    data["users"] = [tuple(u) for u in data["users"]]
    return Manifest(**data)


def prune(db: Path | str, prefix: str, schemas_dir: str | None = None) -> None:
    """Delete the users a create scenario added, so every round sees the same data."""
    _child(schemas_dir, "prune", str(db), prefix)


def user_body(index: int, extended: bool = False) -> dict[str, Any]:
    """A seeded user, shaped like the body Okta sends on create (without the password);
    `extended`: with the example's custom extension too."""
    name = f"user{index:06d}@example.com"
    extension = {ACME: {"employeeId": employee_id(index), "costCenter": f"CC{index % 100:02d}"}}
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Test", "familyName": f"User{index}"},
        "emails": [{"primary": True, "value": name, "type": "work"}],
        "displayName": f"Test User{index}",
        "locale": "en-US",
        "externalId": external_id(index),
        "active": True,
        **(extension if extended else {}),
    }


def employee_id(index: int) -> str:
    """The custom employeeId of seeded user `index` (custom_lookup looks users up by it)."""
    return f"E{index:06d}"


def external_id(index: int) -> str:
    """The externalId of seeded user `index` (the Lua replace script rebuilds it)."""
    return f"00u{index:017d}"


def _child(schemas_dir: str | None, *args: str) -> None:
    # The server's SCIM_SCHEMAS_DIR: the seeding stores (and indexes) what the server declares.
    env = {k: v for k, v in os.environ.items() if k != "SCIM_SCHEMAS_DIR"}
    env |= {"SCIM_SCHEMAS_DIR": schemas_dir} if schemas_dir else {}
    subprocess.run([sys.executable, __file__, *args], cwd=ROOT, check=True, env=env)


def _seed(users: int, big_size: int, manifest: str) -> None:
    from app import config, database, members, store, values
    from app.resources import GROUP, USER

    extended = config.get().schemas_dir is not None
    rng = random.Random(5)
    # Ids from a seeded generator: two databases seeded alike (SQLite and PostgreSQL, bench/run.py
    # VARIANTS) hold the same ids, so one set of request scripts serves both.
    made = random.Random(11)

    def new_id() -> str:
        return str(uuid.UUID(int=made.getrandbits(128), version=4))

    seeded: list[tuple[str, str]] = []
    with database.write_sync() as conn:
        for index in range(users):
            body = values.clean(USER, user_body(index, extended))
            row = store.insert(conn, USER, new_id(), body)
            seeded.append((row.id, body["userName"]))
        ids = [user_id for user_id, _ in seeded]
        big, empty = new_id(), new_id()
        store.insert(conn, GROUP, big, {"displayName": "Big"})
        members.add_members(conn, big, ids[:big_size])
        store.insert(conn, GROUP, empty, {"displayName": "Empty"})
        names = ["Big", "Empty"]
        for n in range(1, SMALL_GROUPS + 1):
            gid, name = new_id(), f"Team {n:02d}"
            store.insert(conn, GROUP, gid, {"displayName": name})
            members.add_members(conn, gid, rng.sample(ids, min(SMALL_GROUP_SIZE, len(ids))))
            names.append(name)
    if not database.postgres():
        database.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    big_members = ids[:big_size]
    rng.shuffle(big_members)
    data = {
        "users": seeded,
        "big_group": big,
        "big_members": big_members,
        "empty_group": empty,
        "group_names": names,
    }
    Path(manifest).write_text(json.dumps(data))


def _seed_tenants(count: int, each: int, manifest: str) -> None:
    """`count` tenants of `each` users; the manifest names the middle one, with its token."""
    from app import database, store, tenancy, tenant_store, values
    from app.resources import USER

    chosen: dict[str, Any] = {}
    for number in range(count):
        name = f"t{number:03d}"
        token = tenant_store.add(name)
        names = [f"{name}-user{index:05d}@example.com" for index in range(each)]
        with tenancy.using(name), database.write_sync() as conn:
            for index, user_name in enumerate(names):
                body = values.clean(USER, {**user_body(index), "userName": user_name})
                store.insert(conn, USER, str(uuid.uuid4()), body)
        if number == count // 2:
            chosen = {"tenant": name, "tenant_token": token, "tenant_names": names}
    if not database.postgres():
        database.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = json.loads(Path(manifest).read_text())
    Path(manifest).write_text(json.dumps({**data, **chosen}))


def _prune(prefix: str) -> None:
    from app import database, store
    from app.resources import USER

    # userName keys are casefolded; a range on the unique index finds every key with the prefix.
    key = USER.table.key.name
    where = f"{key} >= :lo AND {key} < :hi"
    bounds = {"lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
    _, rows = store.search(USER, where, bounds, "seq", 10**9, 0)
    with database.write_sync() as conn:
        for row in rows:
            store.delete(conn, USER, row.id, None)


def main(argv: list[str]) -> None:
    """Entry point of the child process: `seed ...` or `prune ...`."""
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from app import config

    command, db, *rest = argv
    schemas_dir = os.environ.get("SCIM_SCHEMAS_DIR") or None
    config.use(config.Settings(db_path=db, tokens=("bench",), schemas_dir=schemas_dir))
    if command == "seed":
        users, members, manifest = int(rest[0]), int(rest[1]), rest[2]
        _seed(users, members, manifest)
        if len(rest) > 3 and rest[3]:
            count, each = (int(part) for part in rest[3].split(":"))
            _seed_tenants(count, each, manifest)
    elif command == "prune":
        _prune(rest[0])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

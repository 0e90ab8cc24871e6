"""Admin commands for tenants: `python -m app.tenants <command> ...` (README, "Several customers").

    add NAME                    a tenant, with its base URL and first token (shown once)
    list                        tenants with their users, groups, tokens and last use
    token NAME [--expires-in D] a second token, for rotation (at most two live per tenant)
    revoke NAME PREFIX          revoke the token that starts with PREFIX
    rate NAME RATE|none         the tenant's own request rate (per second)
    remove NAME [--yes]         delete the tenant and all its data

Each takes `--db` (else SCIM_DB) and `--json` (one JSON document on stdout). They work while the
server runs: every change is one short write transaction, and workers see token changes within
a few seconds (app/tenant_store.py, CACHE_SECONDS).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from app import config, errors, spec, tenancy, tenant_store


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is 0 on success, 1 on a refused command."""
    args = _parser().parse_args(argv)
    settings = config.from_env()
    config.use(settings.with_overrides(db_path=args.db or settings.db_path))
    try:
        result = _run(args)
    except errors.ScimError as exc:
        print(f"tenants {args.command}: {exc.detail}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(args.command, result)
    return 0


def _run(args: argparse.Namespace) -> Any:
    if args.command == "add":
        token = tenant_store.add(args.name)
        return {"name": args.name, "base_url": _base_url(args.name), "token": token}
    if args.command == "list":
        return [dataclasses.asdict(t) for t in tenant_store.listing()]
    if args.command == "token":
        token = tenant_store.add_token(args.name, args.expires_in)
        return {"name": args.name, "token": token}
    if args.command == "revoke":
        tenant_store.revoke(args.name, args.prefix)
        return {"name": args.name, "revoked": args.prefix}
    if args.command == "rate":
        rate = None if args.rate == "none" else float(args.rate)
        tenant_store.set_rate_limit(args.name, rate)
        return {"name": args.name, "rate_limit": rate}
    if not args.yes and input(f"Type {args.name!r} to delete it and all its data: ") != args.name:
        raise errors.InvalidValue("not confirmed; nothing was deleted")
    tenant_store.remove(args.name)
    return {"name": args.name, "removed": True}


def _base_url(name: str) -> str:
    base = config.get().base_url
    if not base:
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        base = f"http://{host}:{port}{spec.base_path()}"
    return f"{base.rstrip('/')}{tenancy.PREFIX}{name}"


def _print(command: str, result: Any) -> None:
    if command == "add":
        print(f"Tenant:   {result['name']}\nBase URL: {result['base_url']}")
        print(f"Token:    {result['token']}  (shown once; keep it in the identity provider)")
    elif command == "token":
        print(f"New token for {result['name']}: {result['token']}  (shown once)")
    elif command == "list":
        for tenant in result:
            print(f"{tenant['name']}: {tenant['users']} users, {tenant['groups']} groups,"
                  f" rate {tenant['rate_limit'] or 'default'}")  # fmt: skip
            for token in tenant["tokens"]:
                print(f"  token {token['prefix']}...  created {token['created']}"
                      f"  last used {token['last_used'] or 'never'}"
                      f"  expires {token['expires'] or 'never'}")  # fmt: skip
    else:
        print(json.dumps(result))


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="the SQLite file (default: SCIM_DB, else scim.db)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    parser = argparse.ArgumentParser(prog="python -m app.tenants", description=_SUMMARY)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, *arguments: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common])
        for argument in arguments:
            sub.add_argument(argument)
        return sub

    command("add", "name")
    command("list")
    command("token", "name").add_argument("--expires-in", type=float, metavar="DAYS")
    command("revoke", "name", "prefix")
    command("rate", "name", "rate")
    command("remove", "name").add_argument("--yes", action="store_true", help="do not ask again")
    return parser


_SUMMARY = "Admin commands for tenants (README, 'Several customers')."


if __name__ == "__main__":
    sys.exit(main())

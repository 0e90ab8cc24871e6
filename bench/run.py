"""`make bench` and `make bench-scale`: the server under closed-loop load, beside its ceiling.

    .venv/bin/python bench/run.py [--scale] [--scenarios a,b] [--no-install] [--results DIR]

Knobs (environment): WORKERS (2), BENCH_USERS (10000), BENCH_MEMBERS (10000),
BENCH_DURATION (seconds per scenario, 10), BENCH_CEILING_DURATION (seconds of each ceiling
window between scenarios, half BENCH_DURATION), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16),
BENCH_THREADS (1), BENCH_WARMUP (seconds, 2),
BENCH_SCALE_SIZES ("1000:100,10000:10000,100000:100000"), BENCH_TENANTS ("100:1000": that
many tenants of that many users beside the default one, for tenant_lookup); SCIM_SYNCHRONOUS,
SCIM_JOURNAL_SIZE and SCIM_LOG_FORMAT are passed to the server (unset: the server's defaults).
See bench/README.md for what each scenario is and how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable as a package
    sys.path.insert(0, str(ROOT))

from bench import load, report, seed, server  # noqa: E402
from bench.load import Result  # noqa: E402

# The server's SCIM_SCHEMAS_DIR when a chosen scenario needs it (custom_lookup): the users are
# seeded with its custom extension, and the other scenarios of the run see the same data.
EXAMPLES = str(ROOT / "examples" / "schemas")

BENCH_ORDER = [
    "ceiling", "lookup", "lookup_nojournal", "custom_lookup", "get", "get_nojournal",
    "group_lookup", "members_lookup", "first_page", "page", "deep_page",
    "deactivate", "deactivate+events", "replace", "replace+events",
    "member_add", "member_add+events", "member_add_empty", "create",
    "create_nopw", "create_nopw+events", "bulk_create",
]  # fmt: skip
# Variants of the server, each started when a chosen scenario needs it: a capability measured on
# and off in the same run (bench/README.md). They share the run's database, except "postgres":
# a new PostgreSQL database (BENCH_POSTGRES's server) seeded with the same users and ids.
VARIANTS: dict[str, dict[str, str]] = {
    "postgres": {},
    "nojournal": {"SCIM_JOURNAL_SIZE": "0"},  # issue 14: what the journal costs
    "events": {  # issue 17: what recording security events costs a write
        "SCIM_EVENTS_TOKEN": secrets.token_urlsafe(24),
        "SCIM_EVENTS_SECRET": secrets.token_urlsafe(32),
    },
}
SCALE_ORDER = [
    "ceiling", "lookup", "get", "members_lookup", "member_add", "member_add_empty",
    "first_page", "page", "deep_page",
]  # fmt: skip


@dataclass(frozen=True)
class Options:
    """Everything a run is told, from the environment and the command line."""

    scale: bool
    workers: int
    users: int
    members: int
    duration: int
    ceiling_duration: int  # each interleaved window of the ceiling
    rounds: int
    connections: int
    threads: int
    warmup: int
    scale_sizes: list[tuple[int, int]]
    scenarios: list[str]
    install: bool
    results: Path
    synchronous: str | None = None
    tenants: str = ""  # BENCH_TENANTS, "count:users": more tenants beside the default one
    backend: str = "sqlite"  # BENCH_BACKEND: sqlite, or postgres (a new database on BENCH_POSTGRES)
    schemas_dir: str | None = None  # examples/schemas when a scenario needs the extension
    journal_size: str | None = None
    log_format: str | None = None


@dataclass(frozen=True)
class Session:
    """One seeded database with the server and the ceiling running beside it."""

    directory: Path
    db: Path | str
    manifest: seed.Manifest
    scim: server.Server
    ceiling: server.Server
    token: str
    wrk: str
    variants: dict[str, server.Server]  # VARIANTS' servers the chosen scenarios need

    def target(self, scenario: load.Scenario) -> server.Server:
        """The server a scenario's requests go to."""
        if scenario.ceiling:
            return self.ceiling
        return self.variants[scenario.variant] if scenario.variant else self.scim


def options(argv: list[str], env: dict[str, str]) -> Options:
    """Parse the command line and the WORKERS / BENCH_* variables."""
    parser = argparse.ArgumentParser(description="Benchmark the SCIM server against its ceiling.")
    parser.add_argument("--scale", action="store_true", help="the cost-growth run (bench-scale)")
    parser.add_argument("--scenarios", help="comma-separated subset (the ceiling always runs)")
    parser.add_argument("--no-install", action="store_true", help="fail if wrk is missing")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    order = SCALE_ORDER if args.scale else BENCH_ORDER
    chosen = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else order
    unknown = set(chosen) - set(load.SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    sizes = env.get("BENCH_SCALE_SIZES", "1000:100,10000:10000,100000:100000")
    return Options(
        scale=args.scale,
        workers=int(env.get("WORKERS", "2")),
        users=int(env.get("BENCH_USERS", "10000")),
        members=int(env.get("BENCH_MEMBERS", "10000")),
        duration=int(env.get("BENCH_DURATION", "10")),
        ceiling_duration=int(env.get("BENCH_CEILING_DURATION", "0"))
        or max(1, int(env.get("BENCH_DURATION", "10")) // 2),
        rounds=int(env.get("BENCH_ROUNDS", "3")),
        connections=int(env.get("BENCH_CONNECTIONS", "16")),
        threads=int(env.get("BENCH_THREADS", "1")),
        warmup=int(env.get("BENCH_WARMUP", "2")),
        scale_sizes=[_size(pair) for pair in sizes.split(",") if pair.strip()],
        scenarios=["ceiling", *[s for s in chosen if s != "ceiling"]],
        install=not args.no_install,
        results=args.results,
        synchronous=env.get("SCIM_SYNCHRONOUS") or None,
        tenants=env.get("BENCH_TENANTS", ""),
        backend=env.get("BENCH_BACKEND", "sqlite"),
        schemas_dir=EXAMPLES if any(load.SCENARIOS[s].extended for s in chosen) else None,
        journal_size=env.get("SCIM_JOURNAL_SIZE") or None,
        log_format=env.get("SCIM_LOG_FORMAT") or None,
    )


def _server_settings(opts: Options) -> dict[str, str]:
    """The SCIM_* settings a run passes on (the bench server starts without the caller's)."""
    given = {
        "SCIM_SYNCHRONOUS": opts.synchronous,
        "SCIM_JOURNAL_SIZE": opts.journal_size,
        "SCIM_LOG_FORMAT": opts.log_format,
        "SCIM_SCHEMAS_DIR": opts.schemas_dir,
    }
    return {name: value for name, value in given.items() if value}


def _size(pair: str) -> tuple[int, int]:
    users, members = pair.split(":")
    return int(users), int(members)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on BENCH_POSTGRES's server (default: the local one), dropped after."""
    import psycopg

    admin = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"scim_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            " LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def session(opts: Options, wrk: str, users: int, members: int) -> Iterator[Session]:
    """Seed a fresh database, start the server and the ceiling, warm both up."""
    members = max(1, min(members, users))  # member_add needs a member to toggle
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="scim-bench-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        db: Path | str = directory / "scim.db"
        if opts.backend == "postgres":
            db = stack.enter_context(postgres_database())
        print(f"seeding {users:,} users, a group of {members:,} members ...", flush=True)
        if opts.tenants:
            print(f"  and BENCH_TENANTS={opts.tenants} (tenants:users each) ...", flush=True)
        manifest = seed.seed(
            db, users, members, directory / "manifest.json", opts.schemas_dir, opts.tenants
        )
        load.write_data(directory, manifest)
        scim = stack.enter_context(_scim_server(opts, db, token, directory, "scim"))
        ceiling = stack.enter_context(
            server.serve(
                "bench.ceiling:create_app()", opts.workers, {"SCIM_TOKEN": token},
                "/scim/v2/Users", token, directory / "ceiling.log",
            )
        )  # fmt: skip
        variants = {}
        for variant in sorted({load.SCENARIOS[name].variant for name in opts.scenarios} - {""}):
            variant_db = db
            if variant == "postgres":
                variant_db = stack.enter_context(postgres_database())
                print("  and the same on PostgreSQL for the +postgres scenarios ...", flush=True)
                seed.seed(
                    variant_db, users, members, directory / "manifest-postgres.json",
                    opts.schemas_dir,
                )  # fmt: skip
            variants[variant] = stack.enter_context(
                _scim_server(
                    opts, variant_db, token, directory, f"scim-{variant}", VARIANTS[variant]
                )
            )
        current = Session(directory, db, manifest, scim, ceiling, token, wrk, variants)
        for name in ("ceiling", "lookup") if opts.warmup > 0 else ():
            _wrk(current, opts, name, "warmup", opts.warmup)
        yield current


def _scim_server(
    opts: Options,
    db: Path | str,
    token: str,
    directory: Path,
    name: str,
    settings: dict[str, str] | None = None,
) -> Any:
    """The SCIM server over `db` with the run's settings (and `settings`); its log and journal
    are `<name>.log` and `<name>.journal` in the run's directory."""
    env = {
        "SCIM_DB": str(db),
        "SCIM_TOKEN": token,
        "SCIM_JOURNAL": str(directory / f"{name}.journal"),
    }
    return server.serve(
        "app.main:create_app()", opts.workers, env | _server_settings(opts) | (settings or {}),
        "/scim/v2/ServiceProviderConfig", token, directory / f"{name}.log",
    )  # fmt: skip


def measure(
    current: Session, opts: Options, name: str, tag: str, seconds: int | None = None
) -> Result:
    """One scenario for BENCH_DURATION seconds (or `seconds`); server CPU sampled around the
    wrk run."""
    scenario = load.SCENARIOS[name]
    target = current.target(scenario)
    # On PostgreSQL the database's own processes count too (bench/README.md).
    on_postgres = not scenario.ceiling and (
        scenario.variant == "postgres" or opts.backend == "postgres"
    )
    before = target.cpu_seconds() + (server.postgres_cpu_seconds() if on_postgres else 0.0)
    raw = _wrk(current, opts, name, tag, seconds or opts.duration)
    after = target.cpu_seconds() + (server.postgres_cpu_seconds() if on_postgres else 0.0)
    cpu = after - before
    if scenario.creates:
        seed.prune(current.db, "new-", opts.schemas_dir)  # the next round: the seeded users
    return Result(
        scenario=name,
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        errors=int(raw["errors"]),
        socket_errors=int(raw["socket_errors"]),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        cpu_seconds=cpu,
    )


def _wrk(current: Session, opts: Options, name: str, tag: str, seconds: int) -> dict[str, float]:
    scenario = load.SCENARIOS[name]
    shape = load.Load(opts.threads, opts.connections)
    script = load.script(scenario, current.directory, current.manifest, current.token, tag, shape)
    url = current.target(scenario).url
    return load.run(current.wrk, script, url, seconds, shape)


def rounds(current: Session, opts: Options) -> list[list[Result]]:
    """BENCH_ROUNDS rounds of every chosen scenario, with a window of the ceiling before the
    first and after each (BENCH_CEILING_DURATION): a scenario is set against the mean of the
    ceiling windows on either side of it. A round's "ceiling" row is their median."""
    done: list[list[Result]] = []
    for number in range(1, opts.rounds + 1):
        ceiling = [_ceiling_window(current, opts, number, 0)]
        results = []
        for name in opts.scenarios[1:]:
            tag = "".join(c for c in name if c.isalnum())
            result = measure(current, opts, name, f"r{number}{tag}")
            ceiling.append(_ceiling_window(current, opts, number, len(ceiling)))
            before, after = ceiling[-2:]
            result = replace(
                result,
                ceiling_rps=(before.rps + after.rps) / 2,
                ceiling_cpu_per_1k=(before.cpu_per_1k + after.cpu_per_1k) / 2,
            )
            print(f"  round {number}/{opts.rounds}  {report.line(result)}", flush=True)
            results.append(result)
        done.append([_median_ceiling(ceiling), *results])
    return done


def _ceiling_window(current: Session, opts: Options, number: int, index: int) -> Result:
    return measure(current, opts, "ceiling", f"r{number}c{index}", opts.ceiling_duration)


def _median_ceiling(windows: list[Result]) -> Result:
    """The round's ceiling row: its windows' median CPU per request and req/s."""
    middle = sorted(windows, key=lambda r: r.cpu_per_1k)[len(windows) // 2]
    rps = statistics.median(r.rps for r in windows)
    return replace(middle, ceiling_rps=rps, ceiling_cpu_per_1k=middle.cpu_per_1k)


# Issue 13's mixed load: readers and writers on the server at once.
MIXED = (("lookup", 8), ("deactivate", 2))


def mixed(current: Session, opts: Options) -> dict[str, dict[str, float]]:
    """MIXED's scenarios side by side for BENCH_DURATION seconds: each one's p50 and p99."""
    jobs = []
    for name, connections in MIXED:
        shape = load.Load(1, connections)
        scenario = load.SCENARIOS[name]
        script = load.script(
            scenario, current.directory, current.manifest, current.token, f"mix{name}", shape
        )
        jobs.append((script, current.target(scenario).url, shape))
    found = load.run_together(current.wrk, jobs, opts.duration)
    return {
        name: {
            "connections": connections,
            "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "errors": raw["errors"] + raw["socket_errors"],
        }
        for (name, connections), raw in zip(MIXED, found, strict=True)
    }


def run_size(opts: Options, wrk: str, users: int, members: int) -> dict[str, Any]:
    """Seed one size, run its rounds (and, for `make bench`, the mixed load), and summarise
    them with the RSS figures."""
    with session(opts, wrk, users, members) as current:
        rss_seeded = current.scim.rss_mb()
        done = rounds(current, opts)
        together = {} if opts.scale else mixed(current, opts)
        rss_end = current.scim.rss_mb()
    return {
        "users": users,
        "members": len(current.manifest.big_members),
        "rss_mb_after_seed": rss_seeded,
        "rss_mb_end": rss_end,
        "summary": report.summarize(done),
        "mixed": together,
        "rounds": [[_raw(r) for r in results] for results in done],
    }


def _raw(result: Result) -> dict[str, Any]:
    return {**asdict(result), "rps": result.rps, "cpu_per_1k": result.cpu_per_1k}


def main(argv: list[str]) -> None:
    """Run `make bench` (or `make bench-scale` with --scale) and save the results as JSON."""
    opts = options(argv, dict(os.environ))
    wrk = server.ensure_wrk(opts.install)
    started = datetime.now(UTC)
    sizes = opts.scale_sizes if opts.scale else [(opts.users, opts.members)]
    measured = [run_size(opts, wrk, users, members) for users, members in sizes]
    print()
    if opts.scale:
        report.print_scale(measured)
    else:
        report.print_bench(measured[0])
    saved = {
        "mode": "scale" if opts.scale else "bench",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": _host(wrk),
        "options": {**asdict(opts), "results": str(opts.results)},
        "sizes": measured,
    }
    opts.results.mkdir(parents=True, exist_ok=True)
    path = opts.results / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{saved['mode']}.json"
    path.write_text(json.dumps(saved, indent=1))
    print(f"\nresults: {path}")


def _host(wrk: str) -> dict[str, Any]:
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": version.splitlines()[0] if version else "",
    }


if __name__ == "__main__":
    main(sys.argv[1:])

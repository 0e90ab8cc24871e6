"""`make bench` and `make bench-scale`: the server under closed-loop load, beside its ceiling.

    .venv/bin/python bench/run.py [--scale] [--scenarios a,b] [--no-install] [--results DIR]

Knobs (environment): WORKERS (2), BENCH_USERS (10000), BENCH_MEMBERS (10000),
BENCH_DURATION (seconds per scenario, 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16),
BENCH_THREADS (1), BENCH_WARMUP (seconds, 2),
BENCH_SCALE_SIZES ("1000:100,10000:10000,100000:100000"), SCIM_SYNCHRONOUS (passed to the
server; unset: the server's default, FULL), SCIM_EVENTS_* (passed to the server: with
SCIM_EVENTS_TOKEN and SCIM_EVENTS_SECRET set, every write records its security events),
BENCH_EVENTS_COMPARE (1: a second server with events on, on a copy of the seeded database,
and each write scenario run against it too, as `<scenario>+events`, right after the first).
See bench/README.md for what each scenario is and how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable as a package
    sys.path.insert(0, str(ROOT))

from bench import load, report, seed, server  # noqa: E402
from bench.load import Result  # noqa: E402

BENCH_ORDER = [
    "ceiling", "lookup", "get", "group_lookup", "members_lookup", "first_page", "page",
    "deep_page", "deactivate", "replace", "member_add", "member_add_empty", "create",
    "create_nopw", "bulk_create",
]  # fmt: skip
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
    rounds: int
    connections: int
    threads: int
    warmup: int
    scale_sizes: list[tuple[int, int]]
    scenarios: list[str]
    install: bool
    results: Path
    synchronous: str | None = None
    events: dict[str, str] | None = None  # the SCIM_EVENTS_* settings passed to the server
    events_compare: bool = False


@dataclass(frozen=True)
class Session:
    """One seeded database with the server and the ceiling running beside it."""

    directory: Path
    db: Path
    manifest: seed.Manifest
    scim: server.Server
    ceiling: server.Server
    token: str
    wrk: str
    events: server.Server | None = None  # BENCH_EVENTS_COMPARE: the server with events on
    events_db: Path | None = None


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
        rounds=int(env.get("BENCH_ROUNDS", "3")),
        connections=int(env.get("BENCH_CONNECTIONS", "16")),
        threads=int(env.get("BENCH_THREADS", "1")),
        warmup=int(env.get("BENCH_WARMUP", "2")),
        scale_sizes=[_size(pair) for pair in sizes.split(",") if pair.strip()],
        scenarios=["ceiling", *[s for s in chosen if s != "ceiling"]]
        if env.get("BENCH_EVENTS_COMPARE", "") != "1"
        else with_events(["ceiling", *[s for s in chosen if s != "ceiling"]]),
        install=not args.no_install,
        results=args.results,
        synchronous=env.get("SCIM_SYNCHRONOUS") or None,
        events={k: v for k, v in env.items() if k.startswith("SCIM_EVENTS_")} or None,
        events_compare=env.get("BENCH_EVENTS_COMPARE", "") == "1",
    )


# The scenarios that write: with BENCH_EVENTS_COMPARE each also runs on the events server.
WRITES = ("deactivate", "replace", "member_add", "member_add_empty", "create", "create_nopw",
          "bulk_create")  # fmt: skip


def with_events(scenarios: list[str]) -> list[str]:
    """Each write scenario followed by its run against the server with events on."""
    return [x for s in scenarios for x in ([s, s + report.EVENTS] if s in WRITES else [s])]


def _size(pair: str) -> tuple[int, int]:
    users, members = pair.split(":")
    return int(users), int(members)


@contextmanager
def session(opts: Options, wrk: str, users: int, members: int) -> Iterator[Session]:
    """Seed a fresh database, start the server and the ceiling, warm both up."""
    members = max(1, min(members, users))  # member_add needs a member to toggle
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="scim-bench-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        db = directory / "scim.db"
        print(f"seeding {users:,} users, a group of {members:,} members ...", flush=True)
        manifest = seed.seed(db, users, members, directory / "manifest.json")
        load.write_data(directory, manifest)
        scim = stack.enter_context(
            server.serve(
                "app.main:create_app()", opts.workers, {"SCIM_DB": str(db), "SCIM_TOKEN": token}
                | ({"SCIM_SYNCHRONOUS": opts.synchronous} if opts.synchronous else {})
                | (opts.events or {}),
                "/scim/v2/ServiceProviderConfig", token, directory / "scim.log",
            )
        )  # fmt: skip
        ceiling = stack.enter_context(
            server.serve(
                "bench.ceiling:create_app()", opts.workers, {"SCIM_TOKEN": token},
                "/scim/v2/Users", token, directory / "ceiling.log",
            )
        )  # fmt: skip
        events, events_db = None, None
        if opts.events_compare:
            events_db = directory / "scim-events.db"
            shutil.copyfile(db, events_db)
            on = {"SCIM_EVENTS_TOKEN": secrets.token_urlsafe(24)}
            on |= {"SCIM_EVENTS_SECRET": secrets.token_urlsafe(32)} | (opts.events or {})
            events = stack.enter_context(
                server.serve(
                    "app.main:create_app()", opts.workers,
                    {"SCIM_DB": str(events_db), "SCIM_TOKEN": token} | on
                    | ({"SCIM_SYNCHRONOUS": opts.synchronous} if opts.synchronous else {}),
                    "/scim/v2/ServiceProviderConfig", token, directory / "scim-events.log",
                )
            )  # fmt: skip
        current = Session(directory, db, manifest, scim, ceiling, token, wrk, events, events_db)
        for name in ("ceiling", "lookup") if opts.warmup > 0 else ():
            _wrk(current, opts, name, "warmup", opts.warmup)
        yield current


def measure(current: Session, opts: Options, name: str, tag: str) -> Result:
    """One scenario for BENCH_DURATION seconds; server CPU sampled around the wrk run."""
    scenario = load.SCENARIOS[name.removesuffix(report.EVENTS)]
    target = _target(current, name)
    before = target.cpu_seconds()
    raw = _wrk(current, opts, name, tag, opts.duration)
    cpu = target.cpu_seconds() - before
    if scenario.creates:
        seed.prune(current.db, "new-")  # the next round sees the seeded users only
        if current.events_db is not None:
            seed.prune(current.events_db, "new-")
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


def _target(current: Session, name: str) -> server.Server:
    """The server a scenario runs against: the ceiling, the server, or the one with events."""
    if load.SCENARIOS[name.removesuffix(report.EVENTS)].ceiling:
        return current.ceiling
    if name.endswith(report.EVENTS):
        assert current.events is not None
        return current.events
    return current.scim


def _wrk(current: Session, opts: Options, name: str, tag: str, seconds: int) -> dict[str, float]:
    scenario = load.SCENARIOS[name.removesuffix(report.EVENTS)]
    shape = load.Load(opts.threads, opts.connections)
    script = load.script(scenario, current.directory, current.manifest, current.token, tag, shape)
    return load.run(current.wrk, script, _target(current, name).url, seconds, shape)


def rounds(current: Session, opts: Options) -> list[list[Result]]:
    """BENCH_ROUNDS rounds of every chosen scenario, the ceiling first in each round."""
    done: list[list[Result]] = []
    for number in range(1, opts.rounds + 1):
        results = []
        for name in opts.scenarios:
            tag = f"r{number}{''.join(c for c in name if c.isalnum())}"
            result = measure(current, opts, name, tag)
            print(f"  round {number}/{opts.rounds}  {report.line(result)}", flush=True)
            results.append(result)
        done.append(results)
    return done


def run_size(opts: Options, wrk: str, users: int, members: int) -> dict[str, Any]:
    """Seed one size, run its rounds, and summarise them with the RSS figures."""
    with session(opts, wrk, users, members) as current:
        rss_seeded = current.scim.rss_mb()
        done = rounds(current, opts)
        rss_end = current.scim.rss_mb()
    return {
        "users": users,
        "members": len(current.manifest.big_members),
        "rss_mb_after_seed": rss_seeded,
        "rss_mb_end": rss_end,
        "summary": report.summarize(done),
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
        "options": {**asdict(opts), "results": str(opts.results), "events": _masked(opts)},
        "sizes": measured,
    }
    opts.results.mkdir(parents=True, exist_ok=True)
    path = opts.results / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{saved['mode']}.json"
    path.write_text(json.dumps(saved, indent=1))
    print(f"\nresults: {path}")


def _masked(opts: Options) -> dict[str, str] | None:
    """The events settings as saved with the results: secrets and tokens left out."""
    if opts.events is None:
        return None
    hidden = ("SCIM_EVENTS_SECRET", "SCIM_EVENTS_TOKEN")
    return {k: "***" if k in hidden else v for k, v in opts.events.items()}


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

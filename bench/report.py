"""Medians over rounds, the tables the bench prints, and issue 5's targets checked against them."""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import BULK_SIZE, Result

# Issue 5: the least ratio to the ceiling's req/s each scenario should reach.
RATIO_TARGETS = {
    "lookup": 0.85, "get": 0.85, "deactivate": 0.85, "create": 0.70,
    "replace": 0.70, "page": 0.25, "member_add": 0.70,
}  # fmt: skip
EVENTS = "+events"  # a write scenario run against the server with security events on
EVENTS_CPU_LIMIT = 1.10  # issue 17: at most 10% more CPU per request with events on
# Issue 13: the least ratio of the ceiling's CPU per request to the scenario's.
CPU_TARGETS = {
    "lookup": 0.90, "get": 0.90, "deactivate": 0.70, "replace": 0.70, "member_add": 0.70,
    "page": 0.40,
}  # fmt: skip
COLUMNS = (
    "scenario", "req/s", "ceiling", "CPU ratio", "p50 ms", "p99 ms", "non-2xx", "CPU-s/1k",
)  # fmt: skip


def line(result: Result) -> str:
    """One scenario's result as a progress line."""
    errors = f"  {result.errors} non-2xx" if result.errors else ""
    sockets = f"  {result.socket_errors} socket errors" if result.socket_errors else ""
    return (
        f"{result.scenario:<17}{result.rps:>9.1f} req/s  p50 {result.p50_ms:7.2f} ms"
        f"  p99 {result.p99_ms:8.2f} ms  {result.cpu_per_1k:6.3f} CPU-s/1k{errors}{sockets}"
    )


def summarize(rounds: list[list[Result]]) -> dict[str, dict[str, float]]:
    """Per scenario: medians over the rounds; the ratios are taken against the ceiling windows
    beside the scenario in its round first (bench/run.py `rounds`)."""
    summary: dict[str, dict[str, float]] = {}
    for name in [r.scenario for r in rounds[0]]:
        runs = [next(r for r in results if r.scenario == name) for results in rounds]
        summary[name] = {
            "rps": statistics.median(r.rps for r in runs),
            "ratio": statistics.median(
                r.rps / r.ceiling_rps if r.ceiling_rps else 0.0 for r in runs
            ),
            "cpu_ratio": statistics.median(
                r.ceiling_cpu_per_1k / r.cpu_per_1k if r.cpu_per_1k else 0.0 for r in runs
            ),
            "p50_ms": statistics.median(r.p50_ms for r in runs),
            "p99_ms": statistics.median(r.p99_ms for r in runs),
            "errors": sum(r.errors + r.socket_errors for r in runs),
            "cpu_per_1k": statistics.median(r.cpu_per_1k for r in runs),
        }
        if name.endswith(EVENTS):  # events on against off, round by round (bench/README.md)
            offs = [next(r for r in results if r.scenario == name.removesuffix(EVENTS))
                    for results in rounds]  # fmt: skip
            summary[name]["cpu_vs_off"] = statistics.median(
                on.cpu_per_1k / max(off.cpu_per_1k, 1e-9)
                for on, off in zip(runs, offs, strict=True)
            )
    return summary


def print_bench(size: dict[str, Any]) -> None:
    """The `make bench` table, the RSS line and the ratio targets."""
    summary = size["summary"]
    print(f"{size['users']:,} users, big group of {size['members']:,} members; medians")
    rows = [
        [
            name,
            f"{s['rps']:.0f}",
            f"{s['ratio']:.2f}",
            f"{s['cpu_ratio']:.2f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["errors"]),
            f"{s['cpu_per_1k']:.3f}",
        ]
        for name, s in summary.items()
    ]
    _table(COLUMNS, rows)
    print(f"\nRSS per worker after seeding: {_mb(size['rss_mb_after_seed'])}; at the end: "
          f"{_mb(size['rss_mb_end'])}")  # fmt: skip
    print("\nTargets (issue 5, ratio to the ceiling's req/s):")
    for name, want in RATIO_TARGETS.items():
        if name in summary:
            got = summary[name]["ratio"]
            print(f"  {name:<12} {got:.2f} >= {want:.2f}  {_verdict(got >= want)}")
    print("\nTargets (issue 13, the ceiling's CPU per request over the scenario's):")
    for name, want in CPU_TARGETS.items():
        if name in summary:
            got = summary[name]["cpu_ratio"]
            print(f"  {name:<12} {got:.2f} >= {want:.2f}  {_verdict(got >= want)}")
    print_pairs(summary)
    print_journal(size["rounds"])
    print_bulk(summary)
    print_events(summary)
    print_mixed(size.get("mixed", {}))
    print_backends(summary)


def print_backends(summary: dict[str, Any]) -> None:
    """Each `+postgres` scenario against its twin on SQLite, in the same run (issue 12)."""
    for name, found in summary.items():
        twin = name.removesuffix("+postgres")
        if name.endswith("+postgres") and twin in summary:
            cpu = found["cpu_per_1k"] / max(summary[twin]["cpu_per_1k"], 1e-9)
            rps = found["rps"] / max(summary[twin]["rps"], 1e-9)
            print(f"  {name:<22} {cpu:.2f}x the CPU per request of {twin} on SQLite,"
                  f" {rps:.2f}x its req/s")  # fmt: skip


def print_mixed(found: dict[str, dict[str, float]]) -> None:
    """Issue 13's tail latency: readers and writers at once, each one's p50 and p99."""
    if "lookup" not in found or "deactivate" not in found:
        return
    read, write = found["lookup"], found["deactivate"]
    for name, got in found.items():
        print(f"  mixed {name:<10} {got['connections']:.0f} connections  {got['rps']:.0f} req/s"
              f"  p50 {got['p50_ms']:.2f} ms  p99 {got['p99_ms']:.2f} ms"
              f"  {got['errors']:.0f} non-2xx")  # fmt: skip
    times = write["p99_ms"] / max(read["p99_ms"], 1e-9)
    print(f"  mixed          write p99 {times:.2f}x the read p99 (<= 3.00, issue 13)"
          f"  {_verdict(times <= 3)}")  # fmt: skip


def print_journal(rounds: list[list[dict[str, Any]]]) -> None:
    """What the journal costs (issue 14): each scenario's server CPU per request over the same
    scenario's against the server with the journal off, in the same round (median)."""
    for name in ("lookup", "get"):
        quiet = f"{name}_nojournal"
        ratios = []
        for results in rounds:
            cpu = {r["scenario"]: r["cpu_per_1k"] for r in results}
            if name in cpu and cpu.get(quiet):
                ratios.append(cpu[name] / cpu[quiet])
        if ratios:
            got = statistics.median(ratios)
            print(f"  {name:<14} {got:.2f}x the CPU per request of {quiet}"
                  f" (<= 1.10, issue 14)  {_verdict(got <= 1.10)}")  # fmt: skip


def print_bulk(summary: dict[str, Any]) -> None:
    """Users created per second in bulks of BULK_SIZE against one POST /Users per user."""
    if "bulk_create" not in summary or "create_nopw" not in summary:
        return
    users = summary["bulk_create"]["rps"] * BULK_SIZE
    times = users / max(summary["create_nopw"]["rps"], 1e-9)
    verdict = _verdict(times >= 3)
    print(f"  bulk_create    {summary['bulk_create']['rps']:.1f} req/s = {users:.0f} users/s,"
          f" {times:.2f}x create_nopw's users/s (>= 3.00, issue 15)  {verdict}")  # fmt: skip


def print_events(summary: dict[str, Any]) -> None:
    """Each write scenario's CPU per request with security events on against off (issue 17):
    the median over the rounds of the ratio in each round, where one ran right after the
    other."""
    for name, found in summary.items():
        if "cpu_vs_off" in found:
            more = found["cpu_vs_off"]
            verdict = _verdict(more <= EVENTS_CPU_LIMIT)
            print(f"  {name:<22} {more:.3f}x the CPU per request of events off"
                  f" (<= {EVENTS_CPU_LIMIT:.2f}, issue 17)  {verdict}")  # fmt: skip


def print_pairs(summary: dict[str, Any]) -> None:
    """Scenarios held to another scenario of the same run (issues 3, 5 and 6)."""
    pairs = [
        ("member_add", "member_add_empty", 1.2, "issue 5"),
        ("member_add", "member_add_empty", 1.5, "issue 6"),
        ("lookup", "get", 1.2, "issue 3"),
        ("members_lookup", "get", 1.2, "issue 3, reported"),
        ("tenant_lookup", "lookup", 1.1, "issue 11: one tenant of many vs all in one"),
    ]
    for slow, fast, limit, source in pairs:
        if slow in summary and fast in summary:
            slower = summary[fast]["rps"] / max(summary[slow]["rps"], 1e-9)
            print(f"  {slow:<14} {slower:.2f}x the time of {fast} (<= {limit:.2f}, {source})"
                  f"  {_verdict(slower <= limit)}")  # fmt: skip


def print_scale(sizes: list[dict[str, Any]]) -> None:
    """The `make bench-scale` growth table: req/s, ceiling ratio and CPU per size."""
    labels = [f"{s['users']:,}/{s['members']:,}" for s in sizes]
    print("Cost growth with size (users/members); medians; each cell: req/s, ratio, CPU-s/1k")
    names = [n for n in sizes[0]["summary"] if n != "ceiling"]
    header = ("scenario", *labels, "req/s large/small", "CPU large/small")
    rows = []
    for name in ["ceiling", *names]:
        cells = [s["summary"][name] for s in sizes]
        row = [name] + [f"{c['rps']:6.0f} {c['ratio']:5.2f} {c['cpu_per_1k']:7.3f}" for c in cells]
        row += [
            f"{cells[-1]['rps'] / max(cells[0]['rps'], 1e-9):.2f}",
            f"{cells[-1]['cpu_per_1k'] / max(cells[0]['cpu_per_1k'], 1e-9):.2f}",
        ]
        rows.append(row)
    _table(header, rows)
    print("\nRSS per worker after seeding: " + "; ".join(
        f"{label}: {_mb(s['rss_mb_after_seed'])}" for label, s in zip(labels, sizes, strict=True)
    ))  # fmt: skip
    print("\nTargets (issue 5):")
    small, large = sizes[0]["summary"], sizes[-1]["summary"]
    for name in ("lookup", "get", "member_add"):
        if name in large:
            # CPU per request decides what the server can do; req/s also moves with the machine.
            loss = 1 - small[name]["cpu_per_1k"] / max(large[name]["cpu_per_1k"], 1e-9)
            ratios = f"ceiling ratio {small[name]['ratio']:.2f} -> {large[name]['ratio']:.2f}"
            print(f"  {name:<12} loses {loss:6.1%} of its CPU-bound throughput, {labels[0]} -> "
                  f"{labels[-1]} (< 15%)  {_verdict(loss < 0.15)}  ({ratios})")  # fmt: skip
    if "deep_page" in large and "first_page" in large:
        times = large["deep_page"]["cpu_per_1k"] / max(large["first_page"]["cpu_per_1k"], 1e-9)
        print(f"  deep_page    costs {times:.2f}x a first page at {labels[-1]} (< 2x)"
              f"  {_verdict(times < 2)}")  # fmt: skip
    rss = max(sizes[-1]["rss_mb_after_seed"] or [0.0])
    verdict = _verdict(rss < 150)
    print(f"  RSS          {rss:.0f} MB per worker at {labels[-1]} (< 150 MB)  {verdict}")
    print(f"\nAt {labels[-1]}:")
    print_pairs(large)


def _verdict(ok: bool) -> str:
    return "holds" if ok else "MISSED"


def _mb(values: list[float]) -> str:
    return ", ".join(f"{v:.0f} MB" for v in values) or "-"


def _table(header: tuple[str, ...], rows: list[list[str]]) -> None:
    lines = [list(header), *rows]
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    for row in lines:
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *rest]))

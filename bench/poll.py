"""Benchmark: how long one status_poller probe cycle takes for many slow surfaces.

    .venv/bin/python bench/poll.py [--runs 5]

Serves S health endpoints that each answer after L ms from a stdlib asyncio HTTP/1.1
responder in a child process (so the server does not share the prober's event loop or
core), runs ``run_probe_cycle`` (aiohttp, the one transport) a few times and prints a
table. A cycle can never be faster than L; the targets are L + the overhead we allow for S
probes in flight at once. A case passes when its median cycle is within target (the machine
is shared, so the max is shown as a noise indicator rather than judged).
The child exits when the benchmark closes its stdin, so nothing outlives a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _summary import record

CASES = [  # (surfaces, latency ms, target cycle seconds)
    (100, 200, 0.300),
    (1000, 200, 3.0),
]

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
    b"Connection: close\r\n\r\n"
    b'{"status": "ok"}'
)


# --- the server (child process) ---------------------------------------------------------
async def _serve(latency_ms: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(latency_ms / 1000)
            writer.write(RESPONSE)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    # Stop when the parent goes away (stdin closes), whatever happened to it.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


# --- the benchmark (parent) -------------------------------------------------------------
def _start_server(latency_ms: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise SystemExit("bench server did not start")
    return proc, int(line)


def _stop_server(proc: subprocess.Popen[str]) -> None:
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _surfaces(count: int, port: int) -> list:
    from raxx_console.status.surfaces import Surface

    return [
        Surface(
            id=f"bench-{i}",
            name=f"bench {i}",
            workflow="bench.yml",
            target_env="bench",
            app="bench",
            health_url=f"http://127.0.0.1:{port}/surfaces/bench-{i}/health",
            timeout_seconds=10.0,
            latency_budget_ms=5000,
        )
        for i in range(count)
    ]


def _run_case(count: int, latency_ms: int, runs: int) -> tuple[list[float], int, float]:
    from raxx_console.status.probe import run_probe_cycle

    proc, port = _start_server(latency_ms)
    try:
        surfaces = _surfaces(count, port)
        run_probe_cycle(surfaces)  # warm-up: imports, SSL context, allocator
        times: list[float] = []
        not_ok = 0
        cpu_started = time.process_time()
        for _ in range(runs):
            started = time.perf_counter()
            results = run_probe_cycle(surfaces)
            times.append(time.perf_counter() - started)
            not_ok += sum(1 for r in results if not r.ok)
        cpu_per_probe_ms = (time.process_time() - cpu_started) * 1000 / (runs * count)
        return times, not_ok, cpu_per_probe_ms
    finally:
        _stop_server(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cycles per case (default 7)")
    parser.add_argument("--serve", type=int, metavar="LATENCY_MS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"probe cycle benchmark: {os.cpu_count()} CPUs, load average {load}, {args.runs} runs")
    print("pass = p50 within target and every probe operational (max shown for noise)\n")
    header = (
        f"{'transport':<9} {'S':>5} {'L ms':>5} {'p50 s':>7} {'max s':>7} {'target s':>8} "
        f"{'not ok':>6}  result"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for count, latency_ms, target in CASES:
        times, not_ok, cpu_ms = _run_case(count, latency_ms, args.runs)
        p50, worst = statistics.median(times), max(times)
        ok = p50 <= target and not_ok == 0
        failed |= not ok
        print(
            f"{'aiohttp':<9} {count:>5} {latency_ms:>5} {p50:>7.3f} {worst:>7.3f} {target:>8.3f} "
            f"{not_ok:>6}  {'pass' if ok else 'FAIL'}  CPU {cpu_ms:.2f} ms/probe",
            flush=True,
        )
        record(
            "poll",
            f"cycle, {count} surfaces at {latency_ms} ms, p50",
            f"{p50:.3f} s",
            f"<= {target} s",
            ok,
            f"{cpu_ms:.2f} ms/probe",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The status_poller's probing engine: one concurrent HTTP probe per surface, classified.

Every surface is probed at once on one asyncio loop, each under its own total deadline
(``Surface.timeout_seconds``, covering DNS, connect, TLS, headers and body), so one hanging
surface costs the cycle at most its own timeout and never delays the others.

Classification (first match wins):

* no response (refused, reset, DNS, TLS, timeout, garbage) or HTTP 5xx → ``down``
* any other status than ``expected_status`` → ``degraded``
* a JSON body whose ``status`` is degraded/partial_outage/degraded_performance → ``degraded``
* the expected status, but slower than ``latency_budget_ms`` → ``slow`` (the tile shows
  degraded; the severity is the surface's ``slow`` one, P3 by default)
* otherwise ``operational``.

A surface without a ``health_url`` is not probed: its result is ``unknown`` with no severity,
and the hysteresis machine counts it as neither a failure nor a success.

Decisions:

* **Redirects are not followed.** A health check measures the URL it was given; a redirect
  usually means a stale URL or a login wall (Cloudflare Access answers 302), so a 3xx other
  than ``expected_status`` reads as degraded and the detail names the target.
* **The transport is aiohttp**: one ``ClientSession`` per cycle, one GET per probe, with its
  C-accelerated HTTP parser. It has to fit the targets (100 surfaces at 200 ms latency in a
  ≤ 300 ms cycle, 1,000 in ≤ 3 s, on 2 cores), so the CPU per probe is what counts. httpx is
  not used here: httpx/httpcore cost ~1.5-2 ms of CPU per request on this hardware; in one
  run on the loaded 2-core box, 100 surfaces took p50 0.876 s through httpx against 0.474 s
  through aiohttp. The hand-written stdlib client aiohttp replaced was cheaper still (0.379 s
  in that run; ~0.5-0.6 ms of CPU per probe against aiohttp's ~0.8-1.0 ms, side by side),
  which leaves the 100-surface case only a few tens of ms of headroom: see ``bench/poll.py``.
* The connector closes each connection after its answer (``force_close``): a cycle makes one
  GET per surface and the session dies with the cycle, so there is nothing to reuse. Keep-alive
  measured the same (CPU per cycle within noise), and closing at once frees the surface's side.
* TLS is verified against the system trust store (aiohttp's default context).
* Proxy environment variables are ignored (``trust_env=False``): probes go straight to the
  surface.
* Host names are resolved once per cycle (surfaces often share a host; the connector caches
  and shares lookups). ``run_probe_cycle`` gives its loop a default executor that is not
  joined on the way out, so a lookup stuck on a dead DNS server counts against its own
  probes' deadlines only and never holds the end of the cycle.
* Deadlines are exact: aiohttp rounds timeouts of 5 s and more up to the next whole second
  unless told otherwise (``ceil_threshold``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from raxx_console.status.surfaces import Surface

CONDITIONS = ("operational", "degraded", "down", "slow", "unknown")
TILE_STATUS = {
    "operational": "operational",
    "degraded": "degraded",
    "slow": "degraded",
    "down": "down",
    "unknown": "unknown",
}
DEGRADED_BODY_STATUSES = frozenset({"degraded", "partial_outage", "degraded_performance"})

DEFAULT_CONCURRENCY = 1000
"""Probes in flight at once. At or above the surface count no probe waits for a slot."""

MAX_BODY_BYTES = 64 * 1024
"""Health bodies are small; a home page used as a health URL is read only this far."""

USER_AGENT = "raxx-console-status-poller/1"
_ACCEPT = "application/json, */*;q=0.5"

DNS_THREADS = 16
"""Concurrent host-name lookups in a cycle (one per distinct host; the rest wait for it)."""


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw. ``status`` is what the tile shows; ``condition`` keeps ``slow``."""

    surface_id: str
    condition: str
    status: str
    severity: str | None
    http_status: int | None
    latency_ms: float | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.condition == "operational"

    @property
    def probed(self) -> bool:
        """False for a surface without a health URL (nothing was asked)."""
        return self.condition != "unknown"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_result(
    surface: Surface,
    condition: str,
    detail: str,
    *,
    http_status: int | None = None,
    latency_ms: float | None = None,
) -> ProbeResult:
    """A result with its tile status and severity derived from the surface's settings."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}")
    severity = None if condition in ("operational", "unknown") else surface.severity_for(condition)
    return ProbeResult(
        surface_id=surface.id,
        condition=condition,
        status=TILE_STATUS[condition],
        severity=severity,
        http_status=http_status,
        latency_ms=None if latency_ms is None else round(latency_ms, 1),
        detail=detail,
    )


def classify_response(
    surface: Surface,
    *,
    http_status: int,
    latency_ms: float,
    body_status: str | None = None,
    location: str | None = None,
) -> ProbeResult:
    """Classify an HTTP answer. Pure, so the tests can pin every rule without a server."""
    kwargs: dict[str, Any] = {"http_status": http_status, "latency_ms": latency_ms}
    if http_status >= 500:
        return make_result(surface, "down", f"HTTP {http_status}", **kwargs)
    if http_status != surface.expected_status:
        expected = f"expected {surface.expected_status}"
        if 300 <= http_status < 400:
            target = f" to {location[:120]}" if location else ""
            detail = f"HTTP {http_status} redirect{target}, not followed ({expected})"
        else:
            detail = f"HTTP {http_status} ({expected})"
        return make_result(surface, "degraded", detail, **kwargs)
    if body_status in DEGRADED_BODY_STATUSES:
        return make_result(surface, "degraded", f"health says {body_status}", **kwargs)
    if latency_ms > surface.latency_budget_ms:
        detail = f"slow: {latency_ms:.0f} ms > {surface.latency_budget_ms} ms budget"
        return make_result(surface, "slow", detail, **kwargs)
    return make_result(surface, "operational", f"HTTP {http_status} in {latency_ms:.0f} ms", **kwargs)


def body_status(content_type: str, body: bytes) -> str | None:
    """The ``status`` field of a JSON health body, lower-cased, if there is one."""
    if "json" not in content_type.lower() and not body.lstrip().startswith(b"{"):
        return None
    try:
        data = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return None
    status = data.get("status") if isinstance(data, dict) else None
    return status.strip().lower() if isinstance(status, str) else None


def describe_error(exc: BaseException, *, timeout_seconds: float | None = None) -> str:
    """A short, secret-free sentence for a transport failure (no URL, no stack).

    ``timeout_seconds`` is the deadline the probe ran under, named in a timeout's sentence.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for err in chain:
        if isinstance(err, TimeoutError):  # asyncio's deadline and aiohttp's ServerTimeoutError
            return "timeout" if timeout_seconds is None else f"timeout after {timeout_seconds:.1f} s"
        if isinstance(err, aiohttp.NonHttpUrlClientError):
            return "invalid health_url: scheme must be http or https"
        if isinstance(err, aiohttp.InvalidURL):
            # yarl's reasons ("Port out of range 0-65535") name no part of the URL; the
            # exception's own text is the URL itself, credentials included, so it stays out.
            reason = err.__cause__
            return f"invalid health_url: {reason}" if isinstance(reason, ValueError) else "invalid health_url"
        if isinstance(err, aiohttp.ClientConnectorDNSError | socket.gaierror):
            return "DNS lookup failed"
        if isinstance(err, ssl.SSLCertVerificationError):  # incl. ClientConnectorCertificateError
            return "TLS certificate not trusted"
        if isinstance(err, ssl.SSLError):  # incl. ClientConnectorSSLError
            return "TLS handshake failed"
        if isinstance(err, aiohttp.ServerDisconnectedError):
            return "connection closed without a response"
        if isinstance(err, aiohttp.ClientResponseError):  # the parser's verdict: not HTTP/1.x
            return "invalid HTTP response"
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, ConnectionResetError | BrokenPipeError):
            return "connection reset"
        if isinstance(err, OSError) and err.errno in _ERRNO_TEXT:
            return _ERRNO_TEXT[err.errno]
    text = " ".join(str(err) for err in chain).lower()
    for needle, sentence in _TEXT_HINTS:
        if needle in text:
            return sentence
    return f"connection error ({type(exc).__name__})"


_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}
_TEXT_HINTS = (  # aiohttp folds several addresses' failures into one "Multiple exceptions" OSError
    ("refused", "connection refused"),
    ("name or service not known", "DNS lookup failed"),
    ("nodename nor servname", "DNS lookup failed"),
    ("name resolution", "DNS lookup failed"),
    ("reset", "connection reset"),
)


# --- probing ----------------------------------------------------------------------------
async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """At most MAX_BODY_BYTES of the body; a body cut off by the peer keeps what arrived."""
    body = bytearray()
    try:
        while len(body) < MAX_BODY_BYTES:
            # read(n) returns what has arrived (up to n), not n: loop until the cap or EOF
            chunk = await response.content.read(MAX_BODY_BYTES - len(body))
            if not chunk:
                break
            body += chunk
    except TimeoutError:
        raise  # the deadline, not a cut-off body (aiohttp's read timeouts are also ClientErrors)
    except aiohttp.ClientError:
        pass  # the status line is the verdict; a cut-off body only hides its ``status``
    return bytes(body)


async def probe_surface(surface: Surface, session: aiohttp.ClientSession) -> ProbeResult:
    """Probe one surface; never raises (an unexpected error reads as down, with its type)."""
    if not surface.health_url:
        return make_result(surface, "unknown", "no health_url configured")
    timeout = aiohttp.ClientTimeout(total=surface.timeout_seconds, ceil_threshold=math.inf)
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        async with session.get(surface.health_url, allow_redirects=False, timeout=timeout) as response:
            body = await _read_capped(response)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        detail = describe_error(exc, timeout_seconds=surface.timeout_seconds)
        return make_result(surface, "down", detail, latency_ms=elapsed_ms())
    except Exception as exc:  # a bug or an odd library error must not sink the cycle
        detail = f"probe error ({type(exc).__name__})"
        return make_result(surface, "down", detail, latency_ms=elapsed_ms())
    return classify_response(
        surface,
        http_status=response.status,
        latency_ms=elapsed_ms(),
        body_status=body_status(response.headers.get("Content-Type", ""), body),
        location=response.headers.get("Location"),
    )


def _new_session(concurrency: int) -> aiohttp.ClientSession:
    """The session one cycle probes through (the caller closes it): see the module's decisions."""
    connector = aiohttp.TCPConnector(
        limit=concurrency,
        force_close=True,
        ttl_dns_cache=None,  # the connector lives one cycle: one lookup per host per cycle
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        cookie_jar=aiohttp.DummyCookieJar(),  # no cookie set by one surface is sent to the next
    )


async def probe_all(
    surfaces: Iterable[Surface], *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[ProbeResult]:
    """Probe every surface concurrently; results come back in the surfaces' order.

    ``concurrency`` bounds probes in flight; a probe's deadline starts when it gets a slot.
    Host names are looked up on the running loop's default executor.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    slots = asyncio.Semaphore(concurrency)

    async with _new_session(concurrency) as session:

        async def guarded(surface: Surface) -> ProbeResult:
            async with slots:
                return await probe_surface(surface, session)

        return list(await asyncio.gather(*(guarded(s) for s in surfaces)))


class _UnjoinedExecutor(ThreadPoolExecutor):
    """The cycle loop's default executor, where aiohttp's resolver runs ``getaddrinfo``.

    ``asyncio.run`` (and ``Runner``) join the loop's default executor on the way out, so one
    lookup stuck on a dead DNS server would hold the cycle past every deadline. This one lets
    such a thread finish on its own; its probes have long been reported as timed out.
    """

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


def run_probe_cycle(
    surfaces: Iterable[Surface], *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[ProbeResult]:
    """The synchronous entry point for the poller's worker thread: one full cycle.

    Runs the cycle on a fresh event loop. Should the calling thread already run a loop
    (Playwright's sync API, a notebook), the cycle runs on a helper thread instead, since a
    loop cannot be nested. Returns within the slowest surface's timeout (plus scheduling).
    """
    items = list(surfaces)

    def cycle() -> list[ProbeResult]:
        with asyncio.Runner() as runner:
            pool = _UnjoinedExecutor(max_workers=DNS_THREADS, thread_name_prefix="probe-dns")
            runner.get_loop().set_default_executor(pool)
            return runner.run(probe_all(items, concurrency=concurrency))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return cycle()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-cycle") as helper:
        return helper.submit(cycle).result()

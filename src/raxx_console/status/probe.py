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
* **The default transport is a small stdlib HTTP/1.1 client** (asyncio streams, one
  ``Connection: close`` GET per probe). httpx/httpcore cost ~1.5-2 ms of CPU per request on
  this hardware, which alone breaks the 100-surfaces-in-300-ms target; the stdlib path costs
  ~0.2 ms. Callers that need httpx features (proxies, HTTP/2, a mock transport) pass
  ``client=`` and get the same classification over httpx.
* Proxy environment variables are ignored: probes go straight to the surface.
* Host names are resolved once per cycle (surfaces often share a host) on a small private
  thread pool, so a stuck DNS lookup counts against its own probes' deadlines only and never
  blocks the end of the cycle.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import functools
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

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

MAX_HEADER_BYTES = 64 * 1024
USER_AGENT = "raxx-console-status-poller/1"
_ACCEPT = "application/json, */*;q=0.5"


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
    """Classify an HTTP answer. Pure, so the tests and both transports share it."""
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


class InvalidResponse(Exception):
    """The peer answered something that is not HTTP/1.x."""


class InvalidHealthURL(ValueError):
    """The surface's health_url cannot be probed (scheme, host or port)."""


def describe_error(exc: BaseException) -> str:
    """A short, secret-free sentence for a transport failure (no URL, no stack)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for err in chain:
        if isinstance(err, InvalidHealthURL):
            return f"invalid health_url: {err}"
        if isinstance(err, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return "invalid health_url"
        if isinstance(err, InvalidResponse | httpx.RemoteProtocolError):
            return "invalid HTTP response"
        if isinstance(err, asyncio.IncompleteReadError):
            return "connection closed without a response"
        if isinstance(err, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(err, ssl.SSLCertVerificationError):
            return "TLS certificate not trusted"
        if isinstance(err, ssl.SSLError):
            return "TLS handshake failed"
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
_TEXT_HINTS = (
    ("refused", "connection refused"),
    ("name or service not known", "DNS lookup failed"),
    ("nodename nor servname", "DNS lookup failed"),
    ("name resolution", "DNS lookup failed"),
    ("reset", "connection reset"),
)


# --- the answer, whichever transport fetched it ---------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Fetcher = Callable[[Surface], Awaitable[Answer]]


# --- the stdlib transport ---------------------------------------------------------------
_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None
_dns_lock = threading.Lock()
_dns_pool: ThreadPoolExecutor | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying context for every probe: building one loads the CA bundle (slow)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()  # certifi's CAs, as httpx uses
        return _ssl_context


def _dns_executor() -> ThreadPoolExecutor:
    """Lookups run here, not on the loop's default executor, which asyncio.run joins."""
    global _dns_pool
    with _dns_lock:
        if _dns_pool is None:
            _dns_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="probe-dns")
        return _dns_pool


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    authorization: str | None


@functools.lru_cache(maxsize=4096)
def _parse_url(url: str) -> _Target:
    """Parsed once per URL: the registry rarely changes and cycles repeat every 30 s."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidHealthURL(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidHealthURL("scheme must be http or https")
    if not parts.hostname:
        raise InvalidHealthURL("no host")
    if not url.isascii():
        raise InvalidHealthURL("non-ASCII characters must be percent-encoded (IDNA for hosts)")
    host = parts.hostname
    default_port = 443 if parts.scheme == "https" else 80
    port = port or default_port
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authorization = None
    if parts.username is not None:
        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(raw).decode()
    return _Target(parts.scheme, host, port, path, host_header, authorization)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _StdlibFetcher:
    """HTTP/1.1 GETs on asyncio streams, with one DNS lookup per host per cycle."""

    def __init__(self) -> None:
        self._lookups: dict[tuple[str, int], asyncio.Future[list[Any]]] = {}

    async def _addresses(self, host: str, port: int) -> list[str]:
        if _is_ip(host):
            return [host]
        key = (host, port)
        if key not in self._lookups:
            loop = asyncio.get_running_loop()
            self._lookups[key] = loop.run_in_executor(
                _dns_executor(), lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            )
        # shield: one probe timing out must not cancel the lookup other probes wait on
        infos = await asyncio.shield(self._lookups[key])
        seen: list[str] = []
        for info in infos:
            if info[4][0] not in seen:
                seen.append(info[4][0])
        return seen

    def close(self) -> None:
        """Drop lookups still running (their thread finishes on its own) and their errors."""
        for future in self._lookups.values():
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" noise at loop close

    async def _connect(self, target: _Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        tls = _shared_ssl_context() if target.scheme == "https" else None
        last: OSError | None = None
        for address in await self._addresses(target.host, target.port):
            try:
                return await asyncio.open_connection(
                    address,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls else None,
                    limit=MAX_HEADER_BYTES,
                )
            except ssl.SSLError:
                raise
            except OSError as exc:
                last = exc
        raise last or OSError(errno.EHOSTUNREACH, "no address")

    async def __call__(self, surface: Surface) -> Answer:
        assert surface.health_url is not None
        target = _parse_url(surface.health_url)
        reader, writer = await self._connect(target)
        try:
            lines = [
                f"GET {target.path} HTTP/1.1",
                f"Host: {target.host_header}",
                f"User-Agent: {USER_AGENT}",
                f"Accept: {_ACCEPT}",
                "Accept-Encoding: identity",
                "Connection: close",
            ]
            if target.authorization:
                lines.append(f"Authorization: {target.authorization}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            return await _read_response(reader)
        finally:
            writer.transport.abort()  # nothing to flush; never linger on a TLS shutdown


async def _read_response(reader: asyncio.StreamReader) -> Answer:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise InvalidResponse("headers too large") from None
        answer = _parse_head(head)
        if not 100 <= answer.status < 200:  # skip interim answers (100 Continue …)
            break
    if answer.status in (204, 304):
        return answer
    try:
        answer.body = await _read_body(reader, answer.headers)
    except (asyncio.IncompleteReadError, ConnectionError, InvalidResponse):
        pass  # the status line is the verdict; a cut-off body only hides its ``status``
    return answer


def _parse_head(head: bytes) -> Answer:
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise InvalidResponse("not an HTTP/1.x status line")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Answer(status=int(parts[1]), headers=headers)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while len(body) < MAX_BODY_BYTES:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise InvalidResponse("bad chunk size") from None
            if size == 0:
                break
            body.extend(await reader.readexactly(size))
            await reader.readexactly(2)
        return bytes(body[:MAX_BODY_BYTES])
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        return await reader.readexactly(min(int(length), MAX_BODY_BYTES))
    return await reader.read(MAX_BODY_BYTES)  # until close (or the cap)


# --- the httpx transport (caller's client) ---------------------------------------------
def new_client(**kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient set up the way the poller probes: no redirects, no env proxies."""
    options: dict[str, Any] = {
        "follow_redirects": False,
        "trust_env": False,
        "verify": _shared_ssl_context(),
        "headers": {"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        "limits": httpx.Limits(max_connections=None),
    }
    return httpx.AsyncClient(**{**options, **kwargs})


def _httpx_fetcher(client: httpx.AsyncClient) -> Fetcher:
    async def fetch(surface: Surface) -> Answer:
        assert surface.health_url is not None
        async with client.stream(
            "GET", surface.health_url, timeout=surface.timeout_seconds, follow_redirects=False
        ) as response:
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) >= MAX_BODY_BYTES:
                        break
            except httpx.TransportError:
                pass  # as above: the status decides
        return Answer(response.status_code, dict(response.headers), bytes(body[:MAX_BODY_BYTES]))

    return fetch


# --- probing ----------------------------------------------------------------------------
async def probe_surface(surface: Surface, fetch: Fetcher) -> ProbeResult:
    """Probe one surface; never raises (an unexpected error reads as down, with its type)."""
    if not surface.health_url:
        return make_result(surface, "unknown", "no health_url configured")
    try:
        _parse_url(surface.health_url)  # the same verdict on a bad URL, whichever transport
    except InvalidHealthURL as exc:
        return make_result(surface, "down", describe_error(exc))
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        async with asyncio.timeout(surface.timeout_seconds):
            answer = await fetch(surface)
    except (TimeoutError, httpx.TimeoutException):
        detail = f"timeout after {surface.timeout_seconds:.1f} s"
        return make_result(surface, "down", detail, latency_ms=elapsed_ms())
    except (
        OSError,
        httpx.HTTPError,
        InvalidResponse,
        InvalidHealthURL,
        asyncio.IncompleteReadError,
    ) as exc:
        return make_result(surface, "down", describe_error(exc), latency_ms=elapsed_ms())
    except Exception as exc:  # a bug or an odd library error must not sink the cycle
        detail = f"probe error ({type(exc).__name__})"
        return make_result(surface, "down", detail, latency_ms=elapsed_ms())
    return classify_response(
        surface,
        http_status=answer.status,
        latency_ms=elapsed_ms(),
        body_status=body_status(answer.headers.get("content-type", ""), answer.body),
        location=answer.headers.get("location"),
    )


async def probe_all(
    surfaces: Iterable[Surface],
    *,
    client: httpx.AsyncClient | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[ProbeResult]:
    """Probe every surface concurrently; results come back in the surfaces' order.

    Without ``client`` the stdlib transport is used; with one, every probe goes through it
    (the caller owns and closes it). ``concurrency`` bounds probes in flight; a probe's
    deadline starts when it gets a slot.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    stdlib = _StdlibFetcher() if client is None else None
    fetch: Fetcher = stdlib if stdlib is not None else _httpx_fetcher(client)  # type: ignore[arg-type]
    slots = asyncio.Semaphore(concurrency)

    async def guarded(surface: Surface) -> ProbeResult:
        async with slots:
            return await probe_surface(surface, fetch)

    try:
        return list(await asyncio.gather(*(guarded(s) for s in surfaces)))
    finally:
        if stdlib is not None:
            stdlib.close()


def run_probe_cycle(
    surfaces: Iterable[Surface], *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[ProbeResult]:
    """The synchronous entry point for the poller's worker thread: one full cycle.

    Runs the cycle on a fresh event loop (``asyncio.run``). Should the calling thread
    already run a loop (Playwright's sync API, a notebook), the cycle runs on a helper
    thread instead, since a loop cannot be nested. Returns within the slowest surface's
    timeout (plus scheduling).
    """
    items = list(surfaces)

    def cycle() -> list[ProbeResult]:
        return asyncio.run(probe_all(items, concurrency=concurrency))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return cycle()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-cycle") as helper:
        return helper.submit(cycle).result()

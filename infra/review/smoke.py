"""`python -m infra smoke --outputs FILE [--timeout S]`: check what a deployed stack promises.

Reads `pulumi stack output --json --show-secrets` (a file, or `-` for stdin) and runs one check
per promise, printing one line each (`PASS`/`FAIL` + detail) and exiting 1 if any fails:

- api health            GET <api_url>/health over verified TLS answers 2xx (api_url must be https)
- load balancer dns     `load_balancer_hostname` (the NLB) resolves
- api dns               the API name resolves, and only to load balancer addresses (its record is
                        DNS-only, a CNAME to the NLB)
- web dns               the web name resolves (it is Cloudflare-proxied: Cloudflare's addresses)
- database dns, database reader dns (when exported), redis dns
                        the endpoint's host resolves; the stores sit in isolated subnets, so a
                        runner outside the VPC can resolve them but never connect

A missing or `[secret]`-masked output fails its check with a message naming the key. Exit 2 when
the outputs cannot be read at all. Values other than the checked hostnames are never printed: the
outputs hold secrets (kubeconfig, ...).

Seams for offline tests: `run_checks()` takes the resolver (name -> addresses; the HTTPS probe
connects to what it returns, so a test maps names to 127.0.0.1) and the CA file to trust. The CLI
uses the system resolver and the system trust store, which honours `SSL_CERT_FILE`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# name, timeout -> addresses; raises OSError (socket.gaierror, TimeoutError) when it cannot.
Resolver = Callable[[str, float], Sequence[str]]

SECRET_MASK = "[secret]"  # what `pulumi stack output --json` prints without --show-secrets


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:<20} {self.detail}"


class CheckFailed(Exception):
    """A probe's failure, with the message the report shows."""


def system_resolve(name: str, timeout: float) -> list[str]:
    """The addresses getaddrinfo gives for `name`, bounded by `timeout`.

    getaddrinfo has no timeout of its own, so it runs in a daemon thread the caller stops
    waiting for; a stuck lookup then costs one idle thread, not a hung deployment job.
    """
    answer: list[Any] = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP))
        except OSError as exc:
            answer.append(exc)

    worker = threading.Thread(target=lookup, name=f"resolve {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        raise TimeoutError(f"no answer within {timeout:g} s")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return sorted({info[4][0] for info in answer[0]})


class _Lookups:
    """One resolution per name per run: the API check reuses the load balancer's answer."""

    def __init__(self, resolve: Resolver, timeout: float) -> None:
        self._resolve = resolve
        self._timeout = timeout
        self._cache: dict[str, list[str] | OSError] = {}

    def __call__(self, name: str) -> list[str]:
        if name not in self._cache:
            try:
                addresses = sorted(set(self._resolve(name, self._timeout)))
                self._cache[name] = addresses or socket.gaierror(f"{name}: no addresses")
            except OSError as exc:
                self._cache[name] = exc
        cached = self._cache[name]
        if isinstance(cached, OSError):
            raise CheckFailed(f"{name} does not resolve: {_reason(cached)}")
        return cached


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out ({exc})" if str(exc) else "timed out"
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def _output(outputs: Mapping[str, Any], key: str) -> str:
    value = outputs.get(key)
    if value is None or value == "":
        raise CheckFailed(f"output `{key}` is missing from the stack outputs")
    if value == SECRET_MASK:
        raise CheckFailed(f"output `{key}` is masked; read the outputs with `pulumi stack output --json --show-secrets`")
    if not isinstance(value, str):
        raise CheckFailed(f"output `{key}` should be a string, got {type(value).__name__}")
    return value


def _url_host(outputs: Mapping[str, Any], key: str) -> str:
    host = urlsplit(_output(outputs, key)).hostname
    if not host:
        raise CheckFailed(f"output `{key}` is not a URL with a host name")
    return host


def endpoint_host(endpoint: str) -> str:
    """`host:port` or `host` -> host (RDS exports host:port, ElastiCache usually the host)."""
    host, sep, port = endpoint.rpartition(":")
    return host if sep and port.isdigit() else endpoint


def _https_get(url: str, *, lookups: _Lookups, context: ssl.SSLContext, timeout: float) -> tuple[int, str]:
    """GET `url` on the addresses `lookups` gives for its host, verifying the certificate for that host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    failures: list[str] = []
    for address in lookups(host):
        try:
            raw = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            failures.append(f"{address}: {_reason(exc)}")
            continue
        try:
            # SNI and certificate check use the URL's name, whatever address it resolved to.
            tls = context.wrap_socket(raw, server_hostname=host)
        except OSError as exc:
            raw.close()
            raise CheckFailed(f"{address}:{port}: {_reason(exc)}") from None
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        conn.sock = tls  # already connected: http.client sends on it instead of dialling again
        try:
            conn.request("GET", path, headers={"User-Agent": "platform-smoke", "Accept": "*/*"})
            response = conn.getresponse()
            response.read(64 * 1024)
            return response.status, response.reason
        except (OSError, http.client.HTTPException) as exc:
            raise CheckFailed(f"{address}:{port}: {_reason(exc)}") from None
        finally:
            conn.close()
    raise CheckFailed(f"cannot connect to {host}:{port}: {'; '.join(failures)}")


def _check_health(outputs: Mapping[str, Any], lookups: _Lookups, context: ssl.SSLContext, timeout: float) -> str:
    api_url = _output(outputs, "api_url")
    parts = urlsplit(api_url)
    if parts.scheme != "https":
        raise CheckFailed(f"api_url must be https, got {api_url!r}")
    if not parts.hostname:
        raise CheckFailed(f"api_url has no host name: {api_url!r}")
    url = api_url.rstrip("/") + "/health"
    started = time.monotonic()
    status, reason = _https_get(url, lookups=lookups, context=context, timeout=timeout)
    elapsed = time.monotonic() - started
    if not 200 <= status < 300:
        raise CheckFailed(f"GET {url} -> {status} {reason}, expected 2xx")
    return f"GET {url} -> {status} {reason} ({elapsed:.2f} s)"


def _check_resolves(name: str, lookups: _Lookups) -> str:
    return f"{name} -> {', '.join(lookups(name))}"


def _check_api_dns(name: str, balancer: str | None, lookups: _Lookups) -> str:
    addresses = lookups(name)
    if balancer is None:
        raise CheckFailed(f"{name} -> {', '.join(addresses)}; cannot compare: output `load_balancer_hostname` is missing")
    balancer_addresses = lookups(balancer)
    # Every answer must be a load balancer address. A subset, not equality: a resolver may drop an
    # unhealthy AZ's address between the two lookups, which says nothing about where the name points.
    stray = sorted(set(addresses) - set(balancer_addresses))
    if stray:
        raise CheckFailed(
            f"{name} -> {', '.join(addresses)}; not load balancer addresses: {', '.join(stray)} "
            f"({balancer} -> {', '.join(balancer_addresses)})"
        )
    return f"{name} -> {', '.join(addresses)} (the load balancer's)"


def run_checks(
    outputs: Mapping[str, Any],
    *,
    timeout: float = 10.0,
    resolve: Resolver = system_resolve,
    ca_file: str | None = None,
) -> list[Result]:
    """Every check, in report order. Never raises for a failed probe: it becomes a FAIL result."""
    lookups = _Lookups(resolve, timeout)
    context = ssl.create_default_context(cafile=ca_file)  # without ca_file: system store / SSL_CERT_FILE
    results: list[Result] = []

    def attempt(name: str, probe: Callable[[], str]) -> None:
        try:
            results.append(Result(name, True, probe()))
        except CheckFailed as exc:
            results.append(Result(name, False, str(exc)))

    attempt("api health", lambda: _check_health(outputs, lookups, context, timeout))
    attempt("load balancer dns", lambda: _check_resolves(_output(outputs, "load_balancer_hostname"), lookups))
    try:
        balancer: str | None = _output(outputs, "load_balancer_hostname")
    except CheckFailed:
        balancer = None  # the load balancer line already says why; the API line says it cannot compare
    attempt("api dns", lambda: _check_api_dns(_url_host(outputs, "api_url"), balancer, lookups))
    attempt("web dns", lambda: _check_resolves(_url_host(outputs, "web_url"), lookups))

    stores = [("database dns", "database_endpoint"), ("redis dns", "redis_endpoint")]
    if outputs.get("database_reader_endpoint"):  # only prod has a read replica
        stores.insert(1, ("database reader dns", "database_reader_endpoint"))
    for name, key in stores:
        attempt(name, lambda key=key: _check_resolves(endpoint_host(_output(outputs, key)), lookups))
    return results


def report(results: Sequence[Result]) -> str:
    failed = sum(not r.ok for r in results)
    lines = [r.line() for r in results]
    # Worded so no log scraper mistakes it for a test runner's "N passed, N failed" line.
    lines.append(f"smoke: {failed} of {len(results)} checks failed" if failed else f"smoke: all {len(results)} checks passed")
    return "\n".join(lines)


def _read_outputs(source: str) -> dict[str, Any]:
    if source == "-":
        data = json.load(sys.stdin)
    else:
        with open(source, encoding="utf-8") as handle:
            data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object of stack outputs, got {type(data).__name__}")
    return data


def run(args: argparse.Namespace) -> int:
    try:
        outputs = _read_outputs(args.outputs)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"smoke: cannot read stack outputs from {args.outputs}: {exc}", file=sys.stderr)
        return 2
    results = run_checks(outputs, timeout=args.timeout)
    print(report(results))
    return 1 if any(not r.ok for r in results) else 0

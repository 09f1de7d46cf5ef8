"""The smoke check (`python -m infra smoke`) against servers this file starts on 127.0.0.1.

Names resolve through an injected table (every address is loopback) or, for the end-to-end CLI
test, through "localhost"; the HTTPS server's self-signed certificate is made here with the
`openssl` CLI. Nothing leaves the machine, and every probe has a timeout of a few seconds at most.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.review import smoke
from infra.cli import main as cli_main

API = "api-staging.example.test"
WEB = "staging.example.test"
NLB = "platform-staging-nlb-0123456789.elb.eu-west-1.example.test"
DB = "platform-staging.abc123.eu-west-1.rds.example.test"
REDIS = "master.platform-staging.abc123.euw1.cache.example.test"
TIMEOUT = 3.0


def _make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is needed to make the test certificate"
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{API},DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@dataclass
class Certs:
    served: Path  # the server's certificate, also the CA file the client trusts
    key: Path
    other: Path  # a certificate the server does not use: trusting only it must fail the TLS check


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("tls")
    served, key = _make_cert(directory, "smoke-served")
    other, _ = _make_cert(directory, "smoke-other")
    return Certs(served, key, other)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status = self.server.health_status if self.path == "/health" else 404  # type: ignore[attr-defined]
        body = b'{"status": "ok"}' if status == 200 else b"nope"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def https_server(certs: Certs) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.served, certs.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.health_status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _port(server: http.server.HTTPServer | socket.socket) -> int:
    sock = server if isinstance(server, socket.socket) else server.socket
    return sock.getsockname()[1]


def resolver(table: dict[str, list[str]]) -> smoke.Resolver:
    for addresses in table.values():  # the tests must never send a probe off this machine
        assert all(a.startswith("127.") for a in addresses), addresses

    def resolve(name: str, timeout: float) -> list[str]:
        assert timeout > 0
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[name]

    return resolve


LOOPBACK = {API: ["127.0.0.1"], WEB: ["127.0.0.1"], NLB: ["127.0.0.1"], DB: ["127.0.0.1"], REDIS: ["127.0.0.1"]}


def outputs_for(port: int) -> dict[str, object]:
    return {
        "api_url": f"https://{API}:{port}",
        "web_url": f"https://{WEB}",
        "load_balancer_hostname": NLB,
        "database_endpoint": f"{DB}:5432",
        "redis_endpoint": REDIS,
        "kubeconfig": "apiVersion: v1\nusers: [{name: admin, user: {token: do-not-print}}]",
        "cost": {"monthly_total": 512.3},
    }


def by_name(results: list[smoke.Result]) -> dict[str, smoke.Result]:
    return {r.name: r for r in results}


def test_a_healthy_deployment_passes_every_check(https_server, certs: Certs) -> None:
    results = smoke.run_checks(outputs_for(_port(https_server)), timeout=TIMEOUT, resolve=resolver(LOOPBACK), ca_file=str(certs.served))
    assert [r.name for r in results] == [
        "api health", "load balancer dns", "api dns", "web dns", "database dns", "redis dns",
    ]
    assert all(r.ok for r in results), smoke.report(results)
    assert "-> 200 OK" in by_name(results)["api health"].detail
    assert smoke.report(results).endswith("smoke: all 6 checks passed")


def test_health_answering_500_fails_only_the_health_check(https_server, certs: Certs) -> None:
    https_server.health_status = 500
    results = by_name(smoke.run_checks(outputs_for(_port(https_server)), timeout=TIMEOUT, resolve=resolver(LOOPBACK), ca_file=str(certs.served)))
    assert not results["api health"].ok
    assert "500" in results["api health"].detail and "expected 2xx" in results["api health"].detail
    assert all(r.ok for name, r in results.items() if name != "api health")


def test_a_certificate_from_an_untrusted_issuer_fails_the_tls_check(https_server, certs: Certs) -> None:
    results = by_name(smoke.run_checks(outputs_for(_port(https_server)), timeout=TIMEOUT, resolve=resolver(LOOPBACK), ca_file=str(certs.other)))
    assert not results["api health"].ok
    assert "TLS certificate not trusted" in results["api health"].detail


def test_plain_http_api_url_fails_without_a_request() -> None:
    outputs = outputs_for(443) | {"api_url": f"http://{API}"}
    results = by_name(smoke.run_checks(outputs, timeout=TIMEOUT, resolve=resolver(LOOPBACK)))
    assert not results["api health"].ok
    assert "must be https" in results["api health"].detail


def test_names_that_do_not_resolve_fail_their_checks(https_server, certs: Certs) -> None:
    table = {k: v for k, v in LOOPBACK.items() if k not in (WEB, REDIS)}
    results = by_name(smoke.run_checks(outputs_for(_port(https_server)), timeout=TIMEOUT, resolve=resolver(table), ca_file=str(certs.served)))
    assert not results["web dns"].ok
    assert results["web dns"].detail == f"{WEB} does not resolve: Name or service not known"
    assert not results["redis dns"].ok and REDIS in results["redis dns"].detail
    assert results["api health"].ok and results["database dns"].ok


def test_an_api_name_that_points_away_from_the_load_balancer_fails(https_server, certs: Certs) -> None:
    table = LOOPBACK | {NLB: ["127.0.0.7", "127.0.0.8"]}  # resolved only, never contacted
    results = by_name(smoke.run_checks(outputs_for(_port(https_server)), timeout=TIMEOUT, resolve=resolver(table), ca_file=str(certs.served)))
    api_dns = results["api dns"]
    assert not api_dns.ok
    assert "not load balancer addresses: 127.0.0.1" in api_dns.detail
    assert results["load balancer dns"].ok


def test_missing_outputs_fail_each_check_naming_the_key() -> None:
    results = smoke.run_checks({}, timeout=TIMEOUT, resolve=resolver({}))
    assert [r.ok for r in results] == [False] * 6
    details = " ".join(r.detail for r in results)
    for key in ("api_url", "load_balancer_hostname", "web_url", "database_endpoint", "redis_endpoint"):
        assert f"output `{key}` is missing" in details


def test_masked_secret_outputs_say_how_to_read_them() -> None:
    outputs = outputs_for(443) | {"database_endpoint": "[secret]"}
    results = by_name(smoke.run_checks(outputs, timeout=TIMEOUT, resolve=resolver(LOOPBACK)))
    assert "--show-secrets" in results["database dns"].detail and not results["database dns"].ok


def test_the_read_replica_is_checked_when_exported(https_server, certs: Certs) -> None:
    reader = "platform-prod-replica.abc123.eu-west-1.rds.example.test"
    outputs = outputs_for(_port(https_server)) | {"database_reader_endpoint": f"{reader}:5432"}
    results = smoke.run_checks(outputs, timeout=TIMEOUT, resolve=resolver(LOOPBACK), ca_file=str(certs.served))
    assert by_name(results)["database reader dns"].detail == f"{reader} does not resolve: Name or service not known"


def test_a_server_that_never_answers_times_out(certs: Certs) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts: the TLS handshake stalls
        outputs = outputs_for(_port(silent))
        results = by_name(smoke.run_checks(outputs, timeout=0.5, resolve=resolver(LOOPBACK), ca_file=str(certs.served)))
    assert not results["api health"].ok
    assert "timed out" in results["api health"].detail


@pytest.mark.parametrize(("endpoint", "host"), [
    ("db.example.test:5432", "db.example.test"),
    ("db.example.test", "db.example.test"),
    ("redis.example.test:6379", "redis.example.test"),
])
def test_endpoint_host(endpoint: str, host: str) -> None:
    assert smoke.endpoint_host(endpoint) == host


def test_cli_end_to_end_on_localhost(https_server, certs: Certs, tmp_path: Path, monkeypatch, capsys) -> None:
    # The real resolver ("localhost" comes from /etc/hosts) and the real trust store, pointed at
    # the test certificate through SSL_CERT_FILE, as a CI runner would point it at a private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.served))
    outputs = {
        "api_url": f"https://localhost:{_port(https_server)}/",
        "web_url": "https://localhost",
        "load_balancer_hostname": "localhost",
        "database_endpoint": "localhost:5432",
        "redis_endpoint": "localhost",
        "kubeconfig": "token: do-not-print",
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert cli_main(["smoke", "--outputs", str(path), "--timeout", str(TIMEOUT)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("PASS  ") == 6 and "FAIL" not in printed
    assert "do-not-print" not in printed

    https_server.health_status = 503
    assert cli_main(["smoke", "--outputs", str(path), "--timeout", str(TIMEOUT)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL  api health" in printed and "smoke: 1 of 6 checks failed" in printed


def test_outputs_from_stdin_and_unreadable_outputs(monkeypatch, capsys, tmp_path: Path) -> None:
    # Only "localhost" to resolve: the CLI path uses the system resolver, which must not go to DNS.
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"api_url": "http://localhost"})))
    assert smoke.run(argparse.Namespace(outputs="-", timeout=1.0)) == 1
    assert "api_url must be https" in capsys.readouterr().out

    bad = tmp_path / "outputs.json"
    bad.write_text("[1, 2]")
    assert smoke.run(argparse.Namespace(outputs=str(bad), timeout=1.0)) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    assert smoke.run(argparse.Namespace(outputs=str(tmp_path / "absent.json"), timeout=1.0)) == 2

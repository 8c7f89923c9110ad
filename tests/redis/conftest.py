"""Fixtures for the Redis backend's tests: hubs on the test server and a raw redis-py client.

The server comes from ``DBPLEX_TEST_REDIS_URL`` (or the sandbox) and may be shared: tests use
their own table names and key prefixes and delete every key they made, never the rest.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

import dbplex
from dbplex.testing.plugin import Servers


@pytest.fixture(scope="session")
def redis_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("redis")


@pytest.fixture(scope="session")
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, for setting up and checking what dbplex did."""
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"dbplex_test_{uuid.uuid4().hex[:10]}:"


@pytest.fixture(autouse=True)
def _delete_test_keys(request: pytest.FixtureRequest, unique_table: str, prefix: str) -> Iterator[None]:
    """After each test, delete the keys of its table and its prefix (and nothing else)."""
    uses_server = "redis_url" in request.fixturenames or "source_url" in request.fixturenames
    client: redis.Redis | None = request.getfixturevalue("raw") if uses_server else None
    yield
    if client is None:
        return
    for pattern in (f"*{unique_table}*", f"{prefix}*"):
        doomed = list(client.scan_iter(match=pattern, count=1000))
        if doomed:
            client.delete(*doomed)


@pytest.fixture
def make_hub(redis_url: str, open_config: Callable[[dict[str, Any]], dbplex.Hub]) -> Callable[..., dbplex.Hub]:
    """``make_hub(url=..., **source_fields)`` opens a hub with one Redis source ``r``; closed after the test."""

    def make(url: str | None = None, **fields: Any) -> dbplex.Hub:
        fields.setdefault("pool", {"min_size": 1, "max_size": 4})
        return open_config({"sources": {"r": {"url": url or redis_url, **fields}}})

    return make


@pytest.fixture
def hub(make_hub: Callable[..., dbplex.Hub], prefix: str) -> dbplex.Hub:
    """A hub with one Redis source ``r`` whose keys start with this test's ``prefix``."""
    return make_hub(options={"prefix": prefix})


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (for server-side effects such as expiry)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _redis_server_binaries() -> list[str]:
    """Every ``redis-server`` on PATH, first first (builds differ: not all speak TLS)."""
    found = (shutil.which("redis-server", path=entry) for entry in os.get_exec_path())
    return list(dict.fromkeys(path for path in found if path))


@contextmanager
def _redis_server(directory: Path, ready: Callable[[], bool], *settings: str) -> Iterator[None]:
    """Run a redis-server of our own in ``directory`` (no persistence) until the block ends.

    Tries each ``redis-server`` on PATH until one starts with ``settings``.
    """
    for binary in _redis_server_binaries():
        args = [binary, "--save", "", "--appendonly", "no", "--dir", str(directory), *settings]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def settled(process: subprocess.Popen[bytes] = process) -> bool:
            return ready() or process.poll() is not None

        try:
            if wait_until(settled, 10) and process.poll() is None:
                yield
                return
        finally:
            process.terminate()
            process.wait(10)
    pytest.skip(f"no redis-server on PATH starts with {' '.join(settings)}")


@pytest.fixture(scope="session")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A redis-server of our own on a Unix socket only, for what must not touch a shared server.

    Yields the socket path. Skipped when no ``redis-server`` is on PATH.
    """
    directory = tmp_path_factory.mktemp("redis-private")
    sock = directory / "redis.sock"
    with _redis_server(directory, sock.exists, "--port", "0", "--unixsocket", str(sock)):
        yield sock


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own speaking TLS only, with a self-signed certificate.

    Yields its ``rediss://`` URL, which names the certificate as the CA to trust. Skipped when
    ``openssl`` or a TLS-capable ``redis-server`` is missing.
    """
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on PATH to make a certificate")
    directory = tmp_path_factory.mktemp("redis-tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    settings += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    with _redis_server(directory, lambda: _accepts(port), *settings):
        yield f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections but never answers (the kernel completes them)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])

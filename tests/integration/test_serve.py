"""``sealroom serve`` as an operator starts it: a real uvicorn server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealroom.workspace import init_workspace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sealroom.cli.main", "serve", "--port", str(port), "--workspace", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = init_workspace(tmp_path / "ws")
    port = _free_port()
    process = _serve(root, port)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(f"serve exited: {process.stdout.read().decode() if process.stdout else ''}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_answers_on_loopback_with_security_headers(server: str) -> None:
    health = httpx.get(f"{server}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert health.headers["cache-control"] == "no-store"
    assert "server" not in health.headers
    denied = httpx.get(f"{server}/api/v1/images")
    assert denied.status_code == 401
    assert denied.headers["content-type"].startswith("application/json")


def test_serve_refuses_to_start_with_a_world_readable_key(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    os.chmod(root / "keys" / "audit.key", 0o644)
    process = _serve(root, _free_port())
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3
    assert b"chmod 600" in output

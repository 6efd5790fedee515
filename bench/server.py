"""`gazetteer serve` as a child process on a free loopback port, for the benchmarks.

The server runs in its own process group so that `kill()` (SIGKILL) takes the uvicorn workers down
with their parent, as a power cut or an OOM kill would; `start()` brings it back on the same port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.background import free_port


class Server:
    """`gazetteer serve --workers N` on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until /health answers."""
        env = {**os.environ, "GAZETTEER_PORT": str(self.port), "GAZETTEER_HOST": "127.0.0.1"}
        gazetteer = Path(sys.executable).with_name("gazetteer")
        self.proc = subprocess.Popen([str(gazetteer), "serve", "--no-setup", "--workers", str(self.workers)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        """SIGKILL the whole process group (no clean shutdown, in-flight requests cut)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(20)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

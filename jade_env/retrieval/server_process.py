"""``ServerProcess``: run ``jade-rag serve-retriever`` as a child process on a free loopback port.

For replicas on one machine, benchmarks and tests: it starts the command, waits until ``GET /health``
answers (or the child exits, which raises with its output), and stops it on ``stop()`` or at the end
of a ``with`` block. ``rss_bytes()`` reads the child's resident memory from ``/proc``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from jade_env.errors import RetrievalError


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``jade-rag serve-retriever ARGS --port P`` in a child process (see the module docstring)."""

    def __init__(self, args: Sequence[str], port: int | None = None, startup_timeout: float = 120.0,
                 log_path: str | Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else None
        # a file, not a pipe: a pipe nobody reads would block a talkative server once 64 KiB are written
        self._log = self.log_path.open("w+") if self.log_path else tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "jade_env.cli", "serve-retriever", *map(str, args),
                                      "--port", str(self.port)], stdout=self._log, stderr=subprocess.STDOUT, text=True)
        ends = time.monotonic() + startup_timeout
        while time.monotonic() < ends:
            if self.proc.poll() is not None:
                out = self.output()
                raise RetrievalError(f"serve-retriever exited with status {self.proc.returncode}: {out[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RetrievalError(f"serve-retriever did not answer /health within {startup_timeout:g} s")

    def output(self) -> str:
        """Everything the server printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def rss_bytes(self) -> int:
        """The child's resident set size now (``VmRSS``)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RetrievalError(f"no VmRSS for process {self.proc.pid}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

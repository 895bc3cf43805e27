"""``ServerProcess``: run ``jade-rag serve-retriever`` as a child process on a free loopback port.

For replicas on one machine, benchmarks and tests: it starts the command (with ``--port 0`` unless
given a port), reads the address the server listens on from the line it prints (so two processes never
race for one free port, and any ``--host`` is found), waits until ``GET /health`` answers (or the child exits, which raises with
its output), and stops it on ``stop()`` or at the end of a ``with`` block. ``rss_bytes()`` reads the
child's resident memory from ``/proc``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from jade_env.errors import RetrievalError

SERVING = re.compile(r"^serving .* on http://(\S+):(\d+)\n", re.MULTILINE)  # a whole line: not a half-written port
#: the address a client on this machine uses for a server bound to every interface
LOOPBACK = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


class ServerProcess:
    """``jade-rag serve-retriever ARGS --port P`` in a child process (see the module docstring)."""

    def __init__(self, args: Sequence[str], port: int | None = None, startup_timeout: float = 120.0,
                 log_path: str | Path | None = None) -> None:
        self.port = port or 0
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
            bound = SERVING.search(self.output())  # its host as a URL writes it, and the port it got (--port 0)
            if bound is None:
                time.sleep(0.2)
                continue
            host, self.port = bound.group(1), int(bound.group(2))
            self.url = f"http://{LOOPBACK.get(host, host)}:{self.port}"
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
        fd = self._log.fileno()  # read without moving the file offset, which the child writes at
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

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

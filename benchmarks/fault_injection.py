"""Fault injection: every failure kind we handle, tried for real, counted per class.

    python benchmarks/fault_injection.py                      # every class
    python benchmarks/fault_injection.py --only client_trickle,replay_cache_corruption

Each class is one function in ``CLASSES`` (name -> function(ctx) -> Tally), tried in its own
temporary folder, against real ``jade-rag serve-retriever`` processes on loopback, real sockets and
real SQLite files. A class counts, for every case it tries:

* **crash**: a server process died, or a call raised anything but a :class:`~jade_env.errors.JadeError`;
* **hang**: a case passed its time bound (for the client: its deadline plus 1 s);
* **silent change**: an answer came back as if fine but differs from the in-process truth;
* **lost**: data that was good before the fault and is gone after it without an error saying so.

The same four counts cover the BM25 index cache (``index_corruption``: damaged files opened in a worker
process, so that a segfault is counted, not fatal), run folders (``run_folders``: bad lines, two writers,
SIGKILL during checkpoint saves, resumes), question loaders (``loaders``: wrong content, BOM, 1 GiB files
and their peak RSS, lone surrogates) and the leaderboard (``leaderboard_inputs``). ``main`` prints one
table row per class, plus each class's measurements, and the table goes to benchmarks/RESULTS.md,
"## Fault injection".
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jade_env.errors import JadeError  # noqa: E402
from jade_env.retrieval.server_process import ServerProcess  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "hotpotqa" / "hotpotqa_train_corpus.json"
PROBE = ["Demon Dice collectible game", "American film director", "river in Germany"]


@dataclass
class Tally:
    """The counts of one class, and what it measured."""

    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    silent: int = 0
    lost: int = 0
    measured: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, crash: bool = False, hang: bool = False, silent: bool = False, lost: int = 0) -> None:
        self.cases += 1
        self.crashes += crash
        self.hangs += hang
        self.silent += silent
        self.lost += lost
        if crash or hang or silent or lost:
            self.problems.append(f"{name}: crash={crash} hang={hang} silent={silent} lost={lost}")


@dataclass
class Context:
    tmp: Path
    truth: object  # the in-process BM25 retriever over CORPUS
    cache_dir: Path
    full: bool

    def server(self, *extra: str) -> ServerProcess:
        return ServerProcess(["--corpus", CORPUS, "--cache-dir", self.cache_dir, *extra], log_path=self.tmp / f"server-{time.time_ns()}.log")

    def same_as_truth(self, url: str) -> bool:
        """A valid request to ``url`` answers exactly what the in-process retriever answers."""
        from jade_env.retrieval.remote import RemoteRetriever

        got = RemoteRetriever(url, corpus_hash="x", timeout=10).search(PROBE, 5)
        want = self.truth.search(PROBE, 5)
        return [[(h.id, h.title, h.text) for h in r] for r in got] == [[(h.id, h.title, h.text) for h in r] for r in want]


class RssSampler:
    """The peak RSS of a server process, sampled every 20 ms while a ``with`` block runs."""

    def __init__(self, server: ServerProcess) -> None:
        self.server, self.peak, self._stop = server, 0, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss_bytes())
            except (OSError, JadeError):
                return
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self.server.rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def raw(url: str, data: bytes, timeout: float = 30, slow: float = 0.0) -> tuple[bytes, float]:
    """Send ``data`` on a fresh connection (byte by byte every ``slow`` s, if set), return the reply and the time."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    reply = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            if slow:
                for byte in data:
                    sock.sendall(bytes([byte]))
                    time.sleep(slow)
            else:
                sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                reply += chunk
                head, sep, body = reply.partition(b"\r\n\r\n")
                length = [line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
                if sep and length and len(body) >= int(length[0]):
                    break  # a complete reply: do not wait for the keep-alive timeout
        except (ConnectionResetError, TimeoutError):
            pass
    return reply, time.monotonic() - started


def json_error(reply: bytes, *statuses: int) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ")[1]) in statuses and "error" in json.loads(body)
    except (ValueError, IndexError):
        return False


# ----------------------------------------------------------------------------- server classes
def server_big_bodies(ctx: Context) -> Tally:
    """1 GiB bodies, chunked (no Content-Length) and announced; malformed chunking."""
    t = Tally()
    with ctx.server() as server:
        base = server.rss_bytes()
        head = b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        host, port = server.url.removeprefix("http://").split(":")
        for name, size in (("chunked 1 GiB", 1 << 30), ("chunked 8 MiB", 8 << 20), ("chunked 4 MiB + 1", (4 << 20) + 1)):
            sent, reply = 0, b""
            chunk = b"%x\r\n%s\r\n" % (1 << 20, b"[" * (1 << 20))
            with RssSampler(server) as rss, socket.create_connection((host, int(port)), timeout=30) as sock:
                started = time.monotonic()
                try:
                    sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                    while sent < size:
                        part = chunk if size - sent >= 1 << 20 else b"%x\r\n%s\r\n" % (size - sent, b"[" * (size - sent))
                        sock.sendall(part)
                        sent += min(1 << 20, size - sent)
                    sock.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                try:
                    while data := sock.recv(65536):
                        reply += data
                except (ConnectionResetError, TimeoutError):
                    pass
                elapsed = time.monotonic() - started
            refused = reply == b"" or json_error(reply, 413)
            t.add(name, crash=not server.alive(), hang=elapsed > 30, silent=not refused)
            t.measured[f"{name}: peak RSS"] = f"{mb(rss.peak)} (idle {mb(base)}; client stopped after {sent >> 20} MiB)"
        for name, data in (("announced 1 GiB", head + b"Content-Length: %d\r\n\r\n" % (1 << 30)),
                           ("bad chunk size", head + b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n"),
                           ("negative length", head + b"Content-Length: -5\r\n\r\n{}"),
                           ("huge header", head + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")):
            reply, elapsed = raw(server.url, data)
            t.add(name, crash=not server.alive(), hang=elapsed > 15, silent=not json_error(reply, 400, 413, 422))
        t.add("valid request after", crash=not server.alive(), silent=not ctx.same_as_truth(server.url))
    return t


def server_unique_words(ctx: Context) -> Tally:
    """1,000 valid requests of words never seen before (64 queries of 50 random words each), then requests at the body limit."""
    t = Tally()
    rng = random.Random(0)
    with ctx.server() as server:
        from jade_env.retrieval.remote import RemoteRetriever

        remote = RemoteRetriever(server.url, corpus_hash="x", timeout=60, retries=0)
        base = server.rss_bytes()
        n_requests = 1000 if ctx.full else 200
        with RssSampler(server) as rss:
            started = time.monotonic()
            for i in range(n_requests):
                queries = [" ".join("".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(50)) for _ in range(64)]
                try:
                    got = remote.search(queries, 3)
                    t.add(f"request {i}", crash=not server.alive(), silent=len(got) != 64)
                except JadeError:
                    t.add(f"request {i}", crash=not server.alive(), lost=1)
            seconds = time.monotonic() - started
        after = server.rss_bytes()
        info = json.loads(urllib.request.urlopen(server.url + "/info", timeout=10).read())
        t.measured[f"{n_requests} requests ({n_requests * 64 * 50:,} unique words)"] = (
            f"RSS {mb(base)} -> {mb(after)}, peak {mb(rss.peak)}; {seconds:.0f} s; word cache {mb(info['cache_bytes'])}, "
            f"emptied {info['cache_clears']} times")
        with RssSampler(server) as rss:
            for i in range(20 if ctx.full else 5):  # near the 4 MiB body limit: 1024 queries of ~3,900 characters
                queries = [" ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(490)) for _ in range(1024)]
                try:
                    got = remote.search(queries, 1)
                    t.add(f"4 MB request {i}", crash=not server.alive(), silent=len(got) != 1024)
                except JadeError as err:
                    t.add(f"4 MB request {i} ({err})", crash=not server.alive(), lost=1)
        t.measured["4 MB requests of unique words"] = f"peak RSS {mb(rss.peak)}, after {mb(server.rss_bytes())}"
        t.add("valid request after", crash=not server.alive(), silent=not ctx.same_as_truth(server.url))
    return t


def server_slow_and_idle(ctx: Context) -> Tally:
    """Connections that send nothing, trickle headers or bodies, or stay open by the hundred."""
    t = Tally()
    with ctx.server("--read-timeout", "2", "--keep-alive", "2") as server:
        bound = 2 + 2  # read timeout plus slack
        reply, elapsed = raw(server.url, b"")
        t.add("idle connection", crash=not server.alive(), hang=elapsed > bound, silent=not json_error(reply, 408))
        t.measured["idle connection closed after"] = f"{elapsed:.1f} s (read timeout 2 s)"
        head = b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        reply, elapsed = raw(server.url, head, slow=0.2)
        t.add("headers 1 byte / 0.2 s", crash=not server.alive(), hang=elapsed > bound, silent=not json_error(reply, 408))
        t.measured["trickled headers closed after"] = f"{elapsed:.1f} s"
        reply, elapsed = raw(server.url, head + b'{"queries": ["a"], "topk": 1}', slow=0.0)  # body shorter than announced
        t.add("body shorter than announced", crash=not server.alive(), hang=elapsed > bound, silent=not json_error(reply, 408))
        host, port = server.url.removeprefix("http://").split(":")
        held = []
        for _ in range(200):  # 200 idle connections at once: none takes a request slot
            held.append(socket.create_connection((host, int(port)), timeout=10))
        try:
            t.add("valid request beside 200 idle connections", crash=not server.alive(), silent=not ctx.same_as_truth(server.url))
            time.sleep(bound)
            closed = 0
            for sock in held:
                sock.settimeout(0.5)
                try:
                    closed += sock.recv(4096).startswith(b"HTTP/1.1 408")
                except (ConnectionResetError, TimeoutError):
                    pass
            t.add("200 idle connections closed", crash=not server.alive(), hang=closed < len(held))
            t.measured["idle connections closed by the server"] = f"{closed} of {len(held)} within {bound} s"
        finally:
            for sock in held:
                sock.close()
        t.add("valid request after", crash=not server.alive(), silent=not ctx.same_as_truth(server.url))
    return t


def server_nested_json(ctx: Context) -> Tally:
    """Deeply nested JSON, as the whole body and inside a field."""
    t = Tally()
    with ctx.server() as server:
        for depth in (1_000, 10_000, 100_000, 2_000_000):
            for name, body in ((f"[ x {depth}", b"[" * depth + b"]" * depth),
                               (f'{{"queries": [ x {depth}', b'{"queries": ' + b"[" * depth + b"]" * depth + b"}"),
                               (f'{{"a": x {depth}', b'{"a":' * depth + b"1" + b"}" * depth),
                               (f"unclosed [ x {depth}", b"[" * depth)):
                if len(body) > 4 << 20:
                    body = body[: 4 << 20]
                head = b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                reply, elapsed = raw(server.url, head + body)
                t.add(name, crash=not server.alive(), hang=elapsed > 15, silent=not json_error(reply, 400, 422))
        t.add("valid request after", crash=not server.alive(), silent=not ctx.same_as_truth(server.url))
    return t


# ----------------------------------------------------------------------------- client classes
class Trickler:
    """A TCP server that answers every connection one byte a second: ``mode`` = headers | body."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        prefix = b"" if self.mode == "headers" else b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        try:
            conn.recv(65536)
            conn.sendall(prefix)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000 if self.mode == "headers" else b'{"result": [' + b" " * 10000:
                if self._stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[object, float, BaseException | None]:
    started = time.monotonic()
    try:
        return fn(*args, **kwargs), time.monotonic() - started, None
    except BaseException as err:  # noqa: BLE001 - classified by the caller
        return None, time.monotonic() - started, err


def client_trickle(ctx: Context) -> Tally:
    """Servers that send one byte a second, in the headers or in the body: construction and search."""
    from jade_env.retrieval.remote import RemoteRetriever

    t = Tally()
    worst = 0.0
    for mode in ("headers", "body"):
        server = Trickler(mode)
        try:
            for timeout, retries, deadline in ((2.0, 1, None), (1.0, 2, None), (5.0, 3, 3.0)):
                remote, built, err = timed(RemoteRetriever, server.url, timeout=timeout, retries=retries, backoff=0.05, deadline=deadline)
                limit = (remote.deadline if remote else deadline or 0) + 1.0
                t.add(f"{mode}: construction t={timeout} r={retries}", crash=err is not None, hang=built > limit)
                worst = max(worst, built - (limit - 1))
                if remote is None:
                    continue
                _, took, err = timed(remote.search, ["q"], 3)
                t.add(f"{mode}: search t={timeout} r={retries} d={remote.deadline:g}", crash=not isinstance(err, JadeError),
                      hang=took > remote.deadline + 1.0)
                worst = max(worst, took - remote.deadline)
                t.measured[f"{mode} trickle, deadline {remote.deadline:g} s"] = f"construction {built:.2f} s, search failed after {took:.2f} s"
        finally:
            server.close()
    t.measured["worst overrun of the deadline"] = f"{worst:+.2f} s (bound: +1 s)"
    return t


def client_dead_servers(ctx: Context) -> Tally:
    """Nothing listening, a listener that never accepts, one that closes at once, one that sends garbage."""
    from jade_env.retrieval.remote import RemoteRetriever

    t = Tally()
    silent_listener = socket.create_server(("127.0.0.1", 0), backlog=1)  # accepts in the kernel, never answers
    closing = socket.create_server(("127.0.0.1", 0))
    garbage = socket.create_server(("127.0.0.1", 0))

    def serve(sock: socket.socket, reply: bytes) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                conn.recv(65536)
                conn.sendall(reply)
            except OSError:
                pass
            conn.close()

    threading.Thread(target=serve, args=(closing, b""), daemon=True).start()
    threading.Thread(target=serve, args=(garbage, b"\x00\xff garbage \r\n\r\n" * 100), daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there
    urls = {"connection refused": refused, "never answers": f"http://127.0.0.1:{silent_listener.getsockname()[1]}",
            "closes at once": f"http://127.0.0.1:{closing.getsockname()[1]}", "garbage": f"http://127.0.0.1:{garbage.getsockname()[1]}"}
    try:
        for name, url in urls.items():
            for protocol in ("search_r1", "jade_search"):
                remote, built, err = timed(RemoteRetriever, url, protocol=protocol, timeout=1.0, retries=2, backoff=0.05)
                t.add(f"{name} construction", crash=err is not None, hang=built > (remote.deadline if remote else 3.2) + 1)
                if remote is not None:
                    _, took, err = timed(remote.search, ["q"], 3)
                    t.add(f"{name} {protocol}", crash=not isinstance(err, JadeError), hang=took > remote.deadline + 1)
                    t.measured[f"{name} ({protocol})"] = f"RetrievalError after {took:.2f} s (deadline {remote.deadline:g} s)"
    finally:
        for sock in (silent_listener, closing, garbage):
            sock.close()
    return t


def client_failover(ctx: Context) -> Tally:
    """Two replicas: one is stopped, or trickles, or was never there; every answer must equal the truth."""
    from jade_env.retrieval.remote import RemoteRetriever

    t = Tally()
    want = [[(h.id, h.title, h.text) for h in r] for r in ctx.truth.search(PROBE, 5)]
    trickler = Trickler("body")
    with ctx.server() as a, ctx.server() as b:
        def check(name: str, urls: list[str], deadline: float = 8.0) -> None:
            remote = RemoteRetriever(urls, corpus_hash="x", timeout=2.0, retries=3, backoff=0.05, deadline=deadline)
            got, took, err = timed(remote.search, PROBE, 5)
            same = got is not None and [[(h.id, h.title, h.text) for h in r] for r in got] == want
            t.add(name, crash=err is not None and not isinstance(err, JadeError), hang=took > deadline + 1, silent=got is not None and not same,
                  lost=int(got is None))
            t.measured[name] = f"{'answered' if got else 'failed'} in {took:.2f} s"

        check("both up", [a.url, b.url])
        check("first trickles", [trickler.url, b.url])
        check("first never existed", ["http://127.0.0.1:9", b.url])
        a.stop()
        check("first stopped", [a.url, b.url])
        for i in range(20):  # every call fails over
            check(f"first stopped, call {i}", [a.url, b.url])
    trickler.close()
    return t


# ----------------------------------------------------------------------------- the replay cache
def replay_cache_corruption(ctx: Context) -> Tally:
    """Byte flips anywhere in the SQLite file, edited rows, a truncated file; replay and repair modes."""
    from jade_env.retrieval.cache import CachedRetriever

    t = Tally()
    rng = random.Random(0)
    queries = [f"{w} {v}" for w in ("river", "film", "director", "game", "city") for v in ("history", "German", "born", "album")] * 1
    path = ctx.tmp / "replay.sqlite"
    with CachedRetriever(ctx.truth, path) as cache:
        fresh = cache.search(queries, 5)
    pristine = path.read_bytes()
    damaged = ctx.tmp / "damaged.sqlite"

    def trial(name: str, damage: Callable[[Path], None]) -> None:
        for replay_only in (True, False):
            for suffix in ("-wal", "-shm"):
                Path(str(damaged) + suffix).unlink(missing_ok=True)
            damaged.write_bytes(pristine)
            damage(damaged)
            try:
                inner = None if replay_only else ctx.truth
                with CachedRetriever(inner, damaged, replay_only=replay_only, retriever_id=ctx.truth.retriever_id,
                                     corpus_hash=ctx.truth.corpus_hash) as cache:
                    got = cache.search(queries, 5)
                t.add(f"{name} replay_only={replay_only}", silent=got != fresh)
            except JadeError:
                t.add(f"{name} replay_only={replay_only}")  # one clear error naming the file: the expected outcome
            except Exception as err:  # noqa: BLE001
                t.add(f"{name} replay_only={replay_only}: {type(err).__name__}: {err}", crash=True)

    def flip(offset: int) -> Callable[[Path], None]:
        def damage(p: Path) -> None:
            data = bytearray(p.read_bytes())
            data[offset % len(data)] ^= 1 << rng.randrange(8)
            p.write_bytes(bytes(data))
        return damage

    for i in range(150 if ctx.full else 40):
        trial(f"bit flip {i}", flip(rng.randrange(len(pristine))))

    def edit(sql: str) -> Callable[[Path], None]:
        def damage(p: Path) -> None:
            with sqlite3.connect(p) as db:
                db.execute(sql)
            db.close()
        return damage

    for sql in ("UPDATE retrievals SET hits = replace(hits, 'a', 'e')", "UPDATE retrievals SET hits = '[]', checksum = NULL",
                "UPDATE retrievals SET hits = 'x'", "UPDATE retrievals SET k = 4", "UPDATE retrievals SET checksum = 'x'",
                "UPDATE retrievals SET hits = json_insert(hits, '$[0][3]', 1e999), checksum = NULL"):
        trial(f"edit: {sql[:60]}", edit(sql))
    for cut in (0, 100, len(pristine) // 2, len(pristine) - 1):
        trial(f"truncated to {cut} bytes", lambda p, cut=cut: p.write_bytes(p.read_bytes()[:cut]))
    return t


# ----------------------------------------------------------------------------- index corruption
def _npy(folder: Path, name: str, edit: Callable[[object], None]) -> None:
    import numpy as np

    arr = np.load(folder / f"{name}.npy", mmap_mode="r+")
    edit(arr)
    arr.flush()
    del arr


def _flip(path: Path, n: int, seed: int) -> None:
    r = random.Random(seed)
    data = bytearray(path.read_bytes())
    for _ in range(n):
        if data:
            data[r.randrange(len(data))] ^= 1 << r.randrange(8)
    path.write_bytes(bytes(data))


def _manifest(folder: Path, edit: Callable[[dict], object]) -> None:
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    out = edit(m)
    path.write_text(out if isinstance(out, str) else json.dumps(m if out is None else out))


def _refresh_checksums(folder: Path) -> None:
    """What a tool that rewrites the manifest after editing the files does: only the structural checks remain."""
    import zlib

    m = json.loads((folder / "manifest.json").read_text())
    for name, meta in m["files"].items():
        data = (folder / name).read_bytes()
        meta.update(bytes=len(data), crc32=zlib.crc32(data))
    (folder / "manifest.json").write_text(json.dumps(m))


def index_damages() -> dict[str, tuple[Callable[[Path], None], bool]]:
    """name -> (damage, structural): a structural damage is tried again with the manifest's checksums rewritten to match."""
    import numpy as np

    from jade_env.retrieval.bm25 import ARRAYS, BLOBS, MANIFEST_KEYS

    out: dict[str, tuple[Callable[[Path], None], bool]] = {}
    for name, dtype in ARRAYS.items():
        big = np.finfo(dtype).max if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max
        for every in (1000, 50, 7):  # the post_doc attack: every k-th entry set to the largest value
            out[f"{name}: every {every}th entry = {big:g}"] = (
                lambda f, n=name, e=every, v=big: _npy(f, n, lambda a: a.__setitem__(slice(None, None, e), v)), name != "norms")
        if np.issubdtype(dtype, np.signedinteger):
            out[f"{name}: every 7th entry = -5"] = (lambda f, n=name: _npy(f, n, lambda a: a.__setitem__(slice(None, None, 7), -5)), True)
        out[f"{name}: last 3 entries cut"] = (lambda f, n=name: np.save(f / f"{n}.npy", np.load(f / f"{n}.npy")[:-3]), True)
    for name in ("block_max", "term_max"):  # impacts
        for value in (np.nan, np.inf, -1.0):
            out[f"{name}: every 10th impact = {value}"] = (
                lambda f, n=name, v=value: _npy(f, n, lambda a: a.__setitem__(slice(None, None, 10), v)), True)
    files = [f"{n}.npy" for n in ARRAYS] + list(BLOBS)
    for name in files:
        for seed in range(3):
            out[f"{name}: 5 bits flipped (seed {seed})"] = (lambda f, n=name, s=seed: _flip(f / n, 5, s),
                                                             name not in ("norms.npy", "docs.bin", "docs.zdict", "terms.txt"))
        out[f"{name}: cut to half"] = (lambda f, n=name: (f / n).write_bytes((f / n).read_bytes()[: (f / n).stat().st_size // 2]), True)
        out[f"{name}: deleted"] = (lambda f, n=name: (f / n).unlink(), False)
    out["docs.bin: one byte flipped"] = (lambda f: _flip(f / "docs.bin", 1, 7), True)  # edited documents
    out["terms.txt: two terms swapped"] = (lambda f: (f / "terms.txt").write_text(
        "\n".join((lambda t: [t[1], t[0], *t[2:]])((f / "terms.txt").read_text(encoding="utf-8").split("\n"))), encoding="utf-8"), False)
    for key, kind in MANIFEST_KEYS.items():
        out[f"manifest: no {key!r}"] = (lambda f, k=key: _manifest(f, lambda m: m.pop(k)), False)
        wrong = "many" if kind is not str else 12
        out[f"manifest: {key!r} = {wrong!r}"] = (lambda f, k=key, w=wrong: _manifest(f, lambda m: m.__setitem__(k, w)), False)
    out["manifest: not JSON"] = (lambda f: _manifest(f, lambda m: "{not json"), False)
    out["manifest: a list"] = (lambda f: _manifest(f, lambda m: [m]), False)
    out["manifest: n_docs doubled"] = (lambda f: _manifest(f, lambda m: m.__setitem__("n_docs", m["n_docs"] * 2)), False)
    out["manifest: avgdl NaN"] = (lambda f: _manifest(f, lambda m: m.__setitem__("avgdl", float("nan"))), False)
    out["manifest: one file's entry gone"] = (lambda f: _manifest(f, lambda m: m["files"].pop("block_off.npy")), False)
    out["manifest: deleted"] = (lambda f: (f / "manifest.json").unlink(), False)
    return out


def _index_worker(pristine: str, work: str) -> int:
    """Runs index cases sent on stdin (one JSON line each) and answers one JSON line each; a crash kills only this process."""
    import faulthandler
    import warnings

    from jade_env.data import load_corpus
    from jade_env.retrieval.bm25 import BM25Retriever

    faulthandler.enable()
    corpus = load_corpus(CORPUS)
    damages = index_damages()
    good = BM25Retriever(index_dir=pristine)
    titles = sorted({p.title for p in corpus})
    queries = [f"{t} history" for t in titles[::max(len(titles) // 40, 1)]]
    expected = [good.search(queries, 10), good.search(queries[:3], good.n_docs)]
    name = Path(pristine).name

    def results(r: BM25Retriever) -> list:
        return [r.search(queries, 10), r.search(queries[:3], r.n_docs)]

    print("ready", flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        folder = Path(work) / "cache" / name
        shutil.rmtree(Path(work) / "cache", ignore_errors=True)
        shutil.copytree(pristine, folder)
        damage, _ = damages[case["name"]]
        damage(folder)
        if case["rewrite"]:
            _refresh_checksums(folder)
        reply = {}
        try:
            opened = BM25Retriever(index_dir=folder)
            reply["load"] = "same" if results(opened) == expected else "different"
        except JadeError as err:
            reply["load"] = "error" if str(folder) in str(err) else f"error without the folder: {err}"
        except Exception as err:  # noqa: BLE001
            reply["load"] = f"crash: {type(err).__name__}: {err}"
        if case["rebuild"]:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rebuilt = BM25Retriever(corpus, cache_dir=Path(work) / "cache")
                    same = results(rebuilt) == expected
                rebuilt_now = any("rebuilding" in str(w.message) for w in caught)
                reply["rebuild"] = ("same" if same else "different") + (" (rebuilt)" if rebuilt_now else "")
            except JadeError as err:  # a damage that passed every check at open time and was found at the passage read
                reply["rebuild"] = "error" if str(folder) in str(err) else f"error without the folder: {err}"
            except Exception as err:  # noqa: BLE001
                reply["rebuild"] = f"crash: {type(err).__name__}: {err}"
        print(json.dumps(reply), flush=True)
    return 0


def index_corruption(ctx: Context) -> Tally:
    """Every array overwritten, cut, bit-flipped; NaN/inf/negative impacts; edited documents and terms; every manifest key
    missing or wrong; each structural damage again with the checksums rewritten. Run in a worker process, so a
    segfault in the kernel counts as a crash instead of ending the benchmark."""
    from jade_env.data import load_corpus
    from jade_env.retrieval.bm25 import BM25Retriever

    t = Tally()
    pristine = BM25Retriever(load_corpus(CORPUS), cache_dir=ctx.tmp / "pristine").index_dir
    cases = [(name, rewrite) for name, (_, structural) in index_damages().items() for rewrite in ((False, True) if structural else (False,))]
    worker: subprocess.Popen | None = None
    outcomes: Counter[str] = Counter()
    for i, (name, rewrite) in enumerate(cases):
        label = f"{name}{' (checksums rewritten)' if rewrite else ''}"
        if worker is None:
            worker = subprocess.Popen([sys.executable, __file__, "--index-worker", str(pristine), str(ctx.tmp / "work")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert worker.stdout.readline().strip() == "ready"
        rebuild = ctx.full or i % 8 == 0
        started = time.monotonic()
        worker.stdin.write(json.dumps({"name": name, "rewrite": rewrite, "rebuild": rebuild}) + "\n")
        worker.stdin.flush()
        reply_line = worker.stdout.readline()
        elapsed = time.monotonic() - started
        if not reply_line:  # the worker died: SIGSEGV, abort, ...
            t.add(f"{label}: worker died with {worker.wait()}", crash=True)
            worker = None
            continue
        reply = json.loads(reply_line)
        outcomes[reply["load"].split(":")[0]] += 1
        crash = reply["load"].startswith("crash") or reply.get("rebuild", "").startswith("crash")
        silent = reply["load"] == "different" or reply.get("rebuild", "same").startswith("different")
        t.add(f"{label}: {reply}", crash=crash, silent=silent, hang=elapsed > 60)
        for step in ("load", "rebuild"):
            if reply.get(step, "").startswith("error w"):
                t.problems.append(f"{label}: the {step} error does not name the folder: {reply[step]}")
        if rebuild:
            outcomes["rebuilt to the same results"] += reply.get("rebuild") == "same (rebuilt)"
            outcomes["passed the checks at open, one clear error at the passage read"] += reply.get("rebuild") == "error"
    if worker is not None:
        worker.stdin.close()
        worker.wait(timeout=30)
    t.measured["outcomes (error: one RetrievalError naming the folder, at open or at the first search)"] = ", ".join(
        f"{k}: {v}" for k, v in sorted(outcomes.items()))
    t.measured["cases"] = f"{len(cases)} ({sum(r for _, r in cases)} with the checksums rewritten to match the damage)"
    return t


# ----------------------------------------------------------------------------- run folders
SYN_RUN = {"n": 200, "synthetic": {"seed": 4}}
RUN_N = 100
RUN_FILES = ("predictions.jsonl", "trajectories.jsonl", "metrics.json")


def _evaluate(out: Path) -> dict:
    import warnings

    from baselines.evaluate import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the resume's counts are checked from the files
        return evaluate("JadeRAG-Synthetic-v0", "rule-planner", out, env_kwargs=SYN_RUN, limit=RUN_N, progress=False)


def _lines_lost(out: Path, name: str, lines: list[bytes]) -> int:
    """Lines the damaged file held that are neither in the file nor, byte for byte, in its side file."""
    kept = set((out / name).read_bytes().splitlines())
    side = out / f"{name}.rejected"
    rejected = set(side.read_bytes().splitlines()) if side.exists() else set()
    return sum(line.rstrip(b"\n") not in kept and line.rstrip(b"\n") not in rejected for line in lines if line.strip())


def _same_files(a: Path, b: Path) -> bool:
    return all((a / n).exists() and (a / n).read_bytes() == (b / n).read_bytes() for n in RUN_FILES)


TRAIN_ARGS = ["--paradigm", "joint", "--env-kwargs", json.dumps({"n": 200, "synthetic": {"seed": 0}}),
              "--eval-kwargs", json.dumps({"n": 30, "synthetic": {"seed": 1}}), "--n-steps", "128", "--batch-size", "64",
              "--log-every", "128", "--bc-episodes", "20", "--bc-epochs", "2"]


KILL_ARGS = ("--checkpoint-every", "128")


def _train(out: Path, steps: int, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "baselines.train", "--steps", str(steps), "--out", str(out), *TRAIN_ARGS, *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run_folders(ctx: Context) -> Tally:
    """Bad lines at several positions of both files, JSON non-objects, repeated ids, two evaluate processes on one folder,
    SIGKILL during checkpoint saves (of a real training run and of a save loop), a resume with a larger --steps."""
    t = Tally()
    clean = ctx.tmp / "clean"
    _evaluate(clean)
    damages: dict[str, tuple[str, Callable[[list[bytes]], list[bytes]]]] = {}
    for name in ("predictions.jsonl", "trajectories.jsonl"):
        for pos in (0, 9, 39, RUN_N - 1):
            damages[f"{name}: line {pos + 1} of {RUN_N} garbage"] = (name, lambda ls, p=pos: ls[:p] + [ls[p][:25] + b"\xff\n"] + ls[p + 1:])
        damages[f"{name}: torn last line"] = (name, lambda ls: ls[:-1] + [ls[-1][: len(ls[-1]) // 2]])
        damages[f"{name}: line 40 deleted"] = (name, lambda ls: ls[:39] + ls[40:])
        damages[f"{name}: every line twice (two writers)"] = (name, lambda ls: ls + ls)
        for seed in range(5):
            damages[f"{name}: 5 random bit flips (seed {seed})"] = (name, lambda ls, s=seed: _flipped(b"".join(ls), seed=s))
        for junk in (b"[1, 2]", b"null", b"42", b'"text"', b"{}", b'{"id": 7}', b'{"question_id": "x"}'):
            damages[f"{name}: JSON non-record {junk.decode()} at line 40"] = (name, lambda ls, j=junk: ls[:39] + [j + b"\n"] + ls[39:])
    equal = 0
    for case, (name, edit) in damages.items():
        out = ctx.tmp / "damaged"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(clean, out)
        lines = edit((out / name).read_bytes().splitlines(keepends=True))
        (out / name).write_bytes(b"".join(lines))
        started = time.monotonic()
        try:
            metrics = _evaluate(out)
            same = metrics["n"] == RUN_N and _same_files(out, clean)
            equal += same
            t.add(case, hang=time.monotonic() - started > 120, silent=not same, lost=_lines_lost(out, name, lines))
        except JadeError as err:
            t.add(f"{case}: {err}", lost=_lines_lost(out, name, lines))
        except Exception as err:  # noqa: BLE001
            t.add(f"{case}: {type(err).__name__}: {err}", crash=True)
    t.measured["bad-line cases"] = (f"{len(damages)}; resumed folders byte-identical to the clean run ({RUN_N} episodes, metrics.json "
                                    f"included): {equal}; every line of each damaged file kept or in its *.rejected side file")

    # two evaluate processes on one folder, started together
    cmd = [sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "rule-planner",
           "--env-kwargs", json.dumps(SYN_RUN), "--limit", str(RUN_N), "--quiet"]
    for trial in range(3):
        out = ctx.tmp / f"concurrent-{trial}"
        started = time.monotonic()
        procs = [subprocess.Popen([*cmd, "--out", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        results = [p.communicate(timeout=600) for p in procs]
        codes = sorted(p.returncode for p in procs)
        refused = [err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 2]
        clear = len(refused) == 1 and "is in use by" in refused[0] and "Traceback" not in refused[0]
        valid = _same_files(out, clean)
        t.add(f"two evaluate processes, trial {trial}: exit codes {codes}", crash=any(c not in (0, 2) for c in codes),
              hang=time.monotonic() - started > 600, silent=codes != [0, 2] or not clear or not valid)
        t.measured[f"two evaluate processes on one folder, trial {trial}"] = (
            f"exit codes {codes}, one clear error: {clear}, folder byte-identical to the clean run: {valid}")
        if trial == 0 and refused:
            t.measured["the refused one said"] = refused[0].strip().splitlines()[-1].replace(str(out), "FOLDER")

    # SIGKILL during checkpoint saves: a real training run, killed while it writes model.zip, then resumed
    from sb3_contrib import MaskablePPO

    from baselines.train import weights_sha256

    for trial in range(3 if ctx.full else 1):
        run = ctx.tmp / f"train-kill-{trial}"
        proc = subprocess.Popen([sys.executable, "-m", "baselines.train", "--steps", "4096", "--out", str(run), *TRAIN_ARGS, *KILL_ARGS],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        saves_seen, started = 0, time.monotonic()
        while proc.poll() is None and time.monotonic() - started < 300:  # kill at the (trial + 2)-th save of model.zip
            if (run / "model.zip").exists() and list(run.glob("model.zip.*.tmp")):
                saves_seen += 1
                if saves_seen >= trial + 2:
                    proc.send_signal(signal.SIGKILL)
                    break
                while list(run.glob("model.zip.*.tmp")) and proc.poll() is None:
                    pass
        killed = proc.wait(timeout=60) == -signal.SIGKILL
        torn = bool(list(run.glob("model.zip.*.tmp")))
        try:
            model = MaskablePPO.load(run / "model.zip")
            loadable, steps_before = True, model.num_timesteps
        except Exception:  # noqa: BLE001
            loadable, steps_before = False, -1
        resumed = _train(run, 4096, *KILL_ARGS)
        final = MaskablePPO.load(run / "model.zip") if resumed.returncode == 0 else None
        fresh_eval = final is not None and json.loads((run / "eval" / "config.json").read_text())["agent_kwargs"].get("model_sha256") == \
            weights_sha256(final)
        t.add(f"train killed during save {trial + 2} (torn archive beside it: {torn})", crash=resumed.returncode != 0,
              lost=int(not loadable), silent=not killed or not fresh_eval or final.num_timesteps != 4096)
        t.measured[f"train killed during a model.zip save, trial {trial}"] = (
            f"killed={killed}, torn temporary file left={torn}, model.zip loadable={loadable} ({steps_before} steps), "
            f"resume finished at {final.num_timesteps if final else '?'} steps, leftover temporaries {len(list(run.glob('*.tmp')))}")
    # ... and a process saving in a loop, killed whenever a save is under way
    ckpt = ctx.tmp / "train-kill-0" / "model.zip"
    want = weights_sha256(MaskablePPO.load(ckpt))
    script = ("import sys\nfrom sb3_contrib import MaskablePPO\nfrom baselines.train import save_model\n"  # the trainer's own save
              "m = MaskablePPO.load(sys.argv[1])\nprint('ready', flush=True)\nwhile True:\n    save_model(m, sys.argv[1])\n")
    torn_kills = 0
    for _ in range(20 if ctx.full else 5):
        before = set(ckpt.parent.glob("model.zip.*.tmp"))
        saver = subprocess.Popen([sys.executable, "-c", script, str(ckpt)], cwd=REPO, stdout=subprocess.PIPE)
        saver.stdout.readline()
        deadline = time.monotonic() + 30
        while set(ckpt.parent.glob("model.zip.*.tmp")) == before and saver.poll() is None and time.monotonic() < deadline:
            pass
        if time.monotonic() >= deadline or saver.poll() is not None:
            t.add("save loop: no save under way within 30 s", hang=True)
        saver.send_signal(signal.SIGKILL)
        saver.wait(timeout=30)
        torn_kills += bool(set(ckpt.parent.glob("model.zip.*.tmp")) - before)
        try:
            ok = weights_sha256(MaskablePPO.load(ckpt)) == want
            t.add("save loop killed mid-save", silent=not ok)
        except Exception as err:  # noqa: BLE001
            t.add(f"save loop killed mid-save: {err}", lost=1)
    t.measured["save loop killed mid-save"] = (f"{torn_kills} kills left a torn temporary archive; model.zip loaded with the same "
                                               "weights after each")

    # a resume with a larger --steps evaluates the new weights, and a moved folder resumes
    run = ctx.tmp / "train-steps"
    first = _train(run, 256)
    old_sha = json.loads((run / "eval" / "config.json").read_text())["agent_kwargs"].get("model_sha256") or "" if first.returncode == 0 else ""
    moved = ctx.tmp / "train-steps-moved"
    run.rename(moved)
    second = _train(moved, 512)
    ok = second.returncode == 0
    new_sha = json.loads((moved / "eval" / "config.json").read_text())["agent_kwargs"].get("model_sha256") or "" if ok else ""
    final_sha = weights_sha256(MaskablePPO.load(moved / "model.zip")) if ok else "?"
    t.add("resume with --steps 256 -> 512 in a moved folder", crash=first.returncode != 0 or not ok,
          silent=new_sha != final_sha or new_sha == old_sha)
    t.measured["resume with a larger --steps"] = (f"eval/ of sha {old_sha[:12]} replaced by sha {new_sha[:12]} = model.zip's {final_sha[:12]}; "
                                                   "the folder was moved in between")
    return t


def _flipped(data: bytes, n: int = 5, seed: int = 0) -> list[bytes]:
    r = random.Random(seed)
    raw = bytearray(data)
    for _ in range(n):
        raw[r.randrange(len(raw))] ^= 1 << r.randrange(8)
    return bytes(raw).splitlines(keepends=True)


# ----------------------------------------------------------------------------- loaders
LOADER_GOOD = {"id": "g0", "question": "What is T?", "golden_answers": ["x"],
               "metadata": {"context": {"title": ["T"], "content": [["T is x."]]}}}
LOADER_BAD = {
    "string answer_aliases": {"id": "m", "paragraphs": [], "question_decomposition": [], "question": "q", "answer": "x",
                              "answer_aliases": "xyz"},
    "dict id": {**LOADER_GOOD, "id": {"a": 1}},
    "list id": {**LOADER_GOOD, "id": [1]},
    "null sentences": {"_id": "h", "question": "q", "answer": "x", "context": [["T", None]]},
    "null content (FlashRAG)": {**LOADER_GOOD, "metadata": {"context": {"title": ["T"], "content": [None]}}},
    "empty answer": {**LOADER_GOOD, "golden_answers": [""]},
    "no answers": {**LOADER_GOOD, "golden_answers": []},
    "null answer": {"_id": "h", "question": "q", "answer": None, "context": []},
    "non-string sentence": {"_id": "h", "question": "q", "answer": "x", "context": [["T", ["a", 3]]]},
    "non-dict paragraph": {"id": "m", "paragraphs": ["p"], "question_decomposition": [], "question": "q", "answer": "x"},
    "non-dict decomposition step": {"id": "m", "paragraphs": [], "question_decomposition": [3], "question": "q", "answer": "x"},
    "string reward_model": {"prompt": [{"role": "user", "content": "q"}], "reward_model": "x"},
    "string extra_info": {"prompt": [{"role": "user", "content": "q"}], "reward_model": {"ground_truth": "x"}, "extra_info": "e"},
    "non-dict prompt message": {"prompt": ["q"], "reward_model": {"ground_truth": "x"}},
    "non-dict metadata": {**LOADER_GOOD, "metadata": "m"},
    "non-string question": {**LOADER_GOOD, "question": 5},
    "dict type": {"_id": "h", "question": "q", "answer": "x", "type": {"t": 1}, "context": []},
    "string supporting_facts": {"_id": "h", "question": "q", "answer": "x", "supporting_facts": "T", "context": []},
}


def _peak_rss_of_load(path: Path) -> tuple[str, int]:
    """(the error, how much the peak RSS grew) of ``load_examples(path)`` in a fresh process (VmHWM, which exec resets;
    ru_maxrss would carry this process's own peak into the child)."""
    script = ("import sys\nfrom jade_env.data import load_examples\nfrom jade_env.errors import DataFormatError\n"
              "def peak():\n    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
              "before = peak()\ntry:\n    load_examples(sys.argv[1]); print('loaded')\nexcept DataFormatError as e:\n    print(str(e)[:150])\n"
              "print(peak() - before)\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, capture_output=True, text=True, timeout=600)
    message, grown = out.stdout.strip().splitlines()
    return message, int(grown) * 1024


def loaders(ctx: Context) -> Tally:
    """Each wrong-content case, a BOM, 1 GiB JSONL files (peak RSS), lone surrogates through evaluate and RecordTrajectories."""
    import warnings

    import gymnasium as gym

    from jade_env.data import load_examples
    from jade_env.wrappers import RecordTrajectories, read_trajectories, replay

    t = Tally()
    for name, record in LOADER_BAD.items():
        for layout in ("jsonl", "json"):
            path = ctx.tmp / f"bad.{layout}"
            good = LOADER_GOOD if "prompt" not in record else {**record, "reward_model": {"ground_truth": "x"}, "prompt": "q",
                                                                "extra_info": {"index": 0}}
            path.write_text("\n".join(map(json.dumps, [good, record])) + "\n" if layout == "jsonl" else json.dumps([good, record]))
            try:
                examples = load_examples(path)
                t.add(f"{name} ({layout}): loaded {examples[-1]}", silent=True)
            except JadeError as err:
                where = f"{path}:2" if layout == "jsonl" else f"{path}: record 1"
                t.add(f"{name} ({layout}): {err}", silent=not str(err).startswith(where) or '"' not in str(err))
            except Exception as err:  # noqa: BLE001
                t.add(f"{name} ({layout}): {type(err).__name__}: {err}", crash=True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    kept = load_examples(path, on_error="skip")
                t.add(f"{name} ({layout}), on_error=skip", lost=int(len(kept) != 1))
            except Exception as err:  # noqa: BLE001
                t.add(f"{name} ({layout}), on_error=skip: {type(err).__name__}: {err}", crash=True)
    for layout, data in (("jsonl", (json.dumps(LOADER_GOOD) + "\n").encode()), ("json", json.dumps([LOADER_GOOD]).encode())):
        plain, bom = ctx.tmp / f"plain.{layout}", ctx.tmp / f"bom.{layout}"
        plain.write_bytes(data)
        bom.write_bytes(b"\xef\xbb\xbf" + data)
        try:
            t.add(f"BOM ({layout})", silent=load_examples(bom) != load_examples(plain))
        except Exception as err:  # noqa: BLE001
            t.add(f"BOM ({layout}): {type(err).__name__}: {err}", crash=not isinstance(err, JadeError), lost=1)

    size = (1 << 30) if ctx.full else (256 << 20)
    corpus_line = (json.dumps({"id": "p", "contents": "Title\n" + "word " * 200}) + "\n").encode()
    blocks = {"a corpus given as questions": (b"", corpus_line * (1024 * 1024 // len(corpus_line)), b""),
              "one line without a newline": (b'{"id": "a", "question": "', b"x" * (1 << 20), b""),
              "a question, blank lines, then a bad line": ((json.dumps(LOADER_GOOD) + "\n").encode(), (b" " * 1023 + b"\n") * 1024,
                                                           b"{not json}\n")}
    for name, (head, block, tail) in blocks.items():
        path = ctx.tmp / "big.jsonl"
        with path.open("wb") as f:
            f.write(head)
            for _ in range(size // len(block)):
                f.write(block)
            f.write(tail)
        started = time.monotonic()
        message, grown = _peak_rss_of_load(path)
        t.add(f"{size >> 20} MiB: {name}: {message}", hang=time.monotonic() - started > 300, silent=message == "loaded",
              crash=grown > 300e6)
        t.measured[f"{size >> 20} MiB file, {name}"] = (f"peak RSS +{mb(grown)} over the interpreter's own, "
                                                        f"{time.monotonic() - started:.1f} s: {message.replace(str(path), 'FILE')[:110]}")
        path.unlink()

    # lone surrogates: in a question (evaluate must write metrics.json) and in an action (RecordTrajectories must write its line)
    path = ctx.tmp / "surrogates.jsonl"
    records = [{**LOADER_GOOD, "id": f"q{i}", "question": f"What is T {i}?", "golden_answers": ["x"]} for i in range(5)]
    text = "\n".join(map(json.dumps, records)) + "\n"
    path.write_text(text.replace("What is T 1?", "What is T\\ud800 1?").replace("What is T 3?", "What \\udfff is \\ud83d T 3?"))
    from baselines.evaluate import evaluate

    try:
        metrics = evaluate("JadeRAG-HotpotQA-v0", "vanilla-rag", ctx.tmp / "surrogate-run", env_kwargs={"data_path": str(path)}, progress=False)
        t.add("lone surrogates in questions: evaluate", silent=metrics["n"] != 5 or not (ctx.tmp / "surrogate-run" / "metrics.json").exists())
    except Exception as err:  # noqa: BLE001
        t.add(f"lone surrogates in questions: evaluate: {type(err).__name__}: {err}", crash=True)
    traj = ctx.tmp / "surrogate-actions.jsonl"
    for action in ("<answer>x\udfff</answer>", "\ud800", "<answer>\ud83d</answer>"):
        try:
            env = RecordTrajectories(gym.make("JadeRAG-Synthetic-v0", n=20, synthetic={"seed": 0}), traj)
            obs, _ = env.reset(seed=0, options={"index": 0})
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step("<workflow>AG</workflow>" if obs["role"] == "planner" else action)
                done = terminated or truncated
            env.close()
            record = read_trajectories(traj)[-1]
            t.add(f"RecordTrajectories with action {action!r}", silent=action not in record["actions"]
                  or replay(record)["prediction"] != info["prediction"])
        except Exception as err:  # noqa: BLE001
            t.add(f"RecordTrajectories with action {action!r}: {type(err).__name__}: {err}", crash=True)
    return t


# ----------------------------------------------------------------------------- leaderboard
def leaderboard_inputs(ctx: Context) -> Tally:
    """inf/NaN and oversized costs, NUL and control characters in every text field, newlines and pipes in names, rows
    stored without validation, and the modes of a new database."""
    import re
    import stat

    from leaderboard.render import render
    from leaderboard.store import rows, submit
    from leaderboard.submission import load_submission
    from leaderboard.tracks import get_track

    t = Tally()
    track = get_track("synthetic")
    lines = [json.dumps({"id": e.id, "prediction": e.answer, "rounds": 1, "retrieval_calls": 1, "tokens": 50}) for e in track.examples()]
    meta = {"method": "gold", "paradigm": "reference", "model": "none", "parameters": None, "training_data": "none",
            "code_link": "https://example.org/x", "contact": "team@example.org", "seed": 0, "track": "synthetic"}
    folder = ctx.tmp / "private" / "lb"
    db = folder / "lb.sqlite"
    pred, meta_path = ctx.tmp / "predictions.jsonl", ctx.tmp / "submission.json"

    def write(first: str | None = None, **fields: object) -> None:
        pred.write_text("\n".join(([first] if first else []) + lines[1 if first else 0:]) + "\n", encoding="utf-8")
        meta_path.write_text(json.dumps({**meta, **fields}), encoding="utf-8")

    write()
    submit(db, track, load_submission(track, pred, meta_path))
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}
    t.add("database and folder modes", silent=modes.pop("lb") != 0o700 or any(m != 0o600 for m in modes.values()))
    t.measured["modes of a new database"] = f"folder {stat.S_IMODE(folder.stat().st_mode):o}, " + ", ".join(
        f"{p.name} {stat.S_IMODE(p.stat().st_mode):o}" for p in folder.iterdir())

    def refused(name: str) -> None:
        before = db.read_bytes()
        try:
            submission = load_submission(track, pred, meta_path)
            submit(db, track, submission)
            t.add(f"{name}: accepted", silent=True)
        except JadeError:
            t.add(name, lost=int(db.read_bytes() != before))
        except Exception as err:  # noqa: BLE001
            t.add(f"{name}: {type(err).__name__}: {err}", crash=True)

    first = json.loads(lines[0])
    for cost in ("rounds", "retrieval_calls", "tokens"):
        for value in ("1e999", "-1e999", "Infinity", "-Infinity", "NaN", "1e16", "9" * 4000, "9" * 5000, "[" * 100_000 + "]" * 100_000):
            write(json.dumps({**first, cost: 0}).replace(f'"{cost}": 0', f'"{cost}": {value}'))
            refused(f"{cost} = {value[:12]}")
    controls = ["\x00", "\n", "\r\n", "\t", "\x1b[2J", "\x7f", "\x85", "\u2028", "\u202e", "\ud800"]
    for text_field in ("method", "model", "training_data", "contact", "command", "code_link"):
        for char in controls:
            value = f"https://example.org/{char}x" if text_field == "code_link" else f"x{char}| injected | row | 1 | 2 | 3 | 4 | 5 |"
            write(**{text_field: value})
            refused(f"{text_field} with U+{ord(char[0]):04X}")
    for char in ("\x00", "\x1b", "\x85", "\ud800"):
        write(json.dumps({**first, "prediction": f"a{char}b"}))
        refused(f"prediction with U+{ord(char):04X}")

    # rows that bypassed validation (an older version, a hand edit): the page and the Markdown must stay clean
    import sqlite3

    evil = ["nul\x00byte", "two\nlines\n| injected | row | 1 | 2 | 3 | 4 | 5 |", "pipe | cell", "\x1b[31mred", "rtl\u202eevil",
            "<script>x</script>"]
    with sqlite3.connect(db) as conn:
        names = [d[1] for d in conn.execute("PRAGMA table_info(submissions)")]
        template = dict(zip(names, conn.execute("SELECT * FROM submissions").fetchone(), strict=True))
        for i, name in enumerate(evil):
            row = {**template, "id": None, "content_hash": f"evil{i}", "method": name, "paradigm": name if i == 2 else "other",
                   "retrieval_calls": float("inf") if i == 1 else 1.0, "f1": float("inf") if i == 3 else template["f1"]}
            conn.execute(f"INSERT INTO submissions ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", list(row.values()))
    conn.close()
    try:
        page, md = render(rows(db), ctx.tmp / "site")
        html_text, markdown = page.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")
        table = [line for line in markdown.splitlines() if line.startswith("|")]
        t.add("page: no control characters", silent=bool(re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", html_text)))
        t.add("page: no unescaped markup", silent="<script>x" in html_text)
        t.add("page: no inf or NaN shown", silent=bool(re.search(r'[>"]-?(inf|nan)\b', html_text, re.IGNORECASE)))
        t.add("Markdown: one line per row", silent=len(table) != 2 + 1 + len(evil))
        cells = len(re.findall(r"(?<!\\)\|", table[0]))  # the header's cells: every row has as many, escaped pipes inside
        t.add("Markdown: as many cells per row as the header", silent=any(len(re.findall(r"(?<!\\)\|", line)) != cells for line in table[2:]))
        t.measured["rows stored without validation"] = (f"{len(evil)} (NUL, newlines with a fake row, pipes, ESC, RLO, <script>; "
                                                        "inf costs and F1): "
                                                        f"index.html {len(html_text):,} characters, no control character; "
                                                        f"leaderboard.md {len(table) - 2} table rows for {len(evil) + 1} submissions")
    except Exception as err:  # noqa: BLE001
        t.add(f"render: {type(err).__name__}: {err}", crash=True)
    return t


CLASSES: dict[str, Callable[[Context], Tally]] = {
    "server_big_bodies": server_big_bodies,
    "server_unique_words": server_unique_words,
    "server_slow_and_idle": server_slow_and_idle,
    "server_nested_json": server_nested_json,
    "client_trickle": client_trickle,
    "client_dead_servers": client_dead_servers,
    "client_failover": client_failover,
    "replay_cache_corruption": replay_cache_corruption,
    "index_corruption": index_corruption,
    "run_folders": run_folders,
    "loaders": loaders,
    "leaderboard_inputs": leaderboard_inputs,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--index-worker"]:
        return _index_worker(*argv[1:3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated class names (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer cases in the long classes")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CLASSES)
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        parser.error(f"unknown class {unknown[0]!r}; known: {', '.join(CLASSES)}")
    from jade_env.data import load_corpus
    from jade_env.retrieval.bm25 import BM25Retriever

    root = Path(tempfile.mkdtemp(prefix="jade-faults-"))
    truth = BM25Retriever(load_corpus(CORPUS), cache_dir=root / "index")
    rows, measured = [], []
    try:
        for name in names:
            folder = root / name
            folder.mkdir()
            started = time.monotonic()
            tally = CLASSES[name](Context(folder, truth, root / "index", full=not args.quick))
            rows.append((name, tally, time.monotonic() - started))
            print(f"{name}: {tally.cases} cases, {tally.crashes} crashes, {tally.hangs} hangs, {tally.silent} silent, "
                  f"{tally.lost} lost ({time.monotonic() - started:.0f} s)", flush=True)
            measured += [f"- {name}: {k}: {v}" for k, v in tally.measured.items()]
            measured += [f"- {name}: PROBLEM {p}" for p in tally.problems]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n| class | cases | crashes | hangs | silent changes | lost | seconds |\n|---|---|---|---|---|---|---|")
    for name, t, seconds in rows:
        print(f"| {name} | {t.cases} | {t.crashes} | {t.hangs} | {t.silent} | {t.lost} | {seconds:.0f} |")
    print("\n" + "\n".join(measured))
    return int(any(t.crashes or t.hangs or t.silent or t.lost for _, t, _ in rows))


if __name__ == "__main__":
    raise SystemExit(main())

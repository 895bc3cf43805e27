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

Other classes (index corruption, run folders, loaders, the leaderboard) are added as further
functions in ``CLASSES``; ``main`` prints one table row per class, plus each class's measurements
(server RSS, client times), and the table goes to benchmarks/RESULTS.md, "## Fault injection".
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import sqlite3
import string
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
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


CLASSES: dict[str, Callable[[Context], Tally]] = {
    "server_big_bodies": server_big_bodies,
    "server_unique_words": server_unique_words,
    "server_slow_and_idle": server_slow_and_idle,
    "server_nested_json": server_nested_json,
    "client_trickle": client_trickle,
    "client_dead_servers": client_dead_servers,
    "client_failover": client_failover,
    "replay_cache_corruption": replay_cache_corruption,
}


def main(argv: list[str] | None = None) -> int:
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

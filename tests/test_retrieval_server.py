"""``jade-rag serve-retriever`` as a real subprocess on loopback, queried by ``RemoteRetriever`` in both protocols."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jade_env.data import load_corpus
from jade_env.errors import RetrievalError
from jade_env.retrieval.bm25 import BM25Retriever
from jade_env.retrieval.remote import RemoteRetriever

pytest.importorskip("fastapi", reason="the server extra is not installed")
pytest.importorskip("uvicorn", reason="the server extra is not installed")

QUERIES = ["Demon Dice collectible game", "American film director", "", "river in Germany", "x" * 20_000]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(corpus_file: Path, cache: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jade_env.cli", "serve-retriever", "--corpus", str(corpus_file),
                             "--port", str(port), "--cache-dir", str(cache), "--max-queries", "64"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not come up in 60 s")


@pytest.fixture(scope="module")
def corpus_file(shared_data: Path) -> Path:
    return shared_data / "hotpotqa" / "hotpotqa_train_corpus.json"


@pytest.fixture(scope="module")
def servers(corpus_file: Path, tmp_path_factory):
    cache = tmp_path_factory.mktemp("server-cache")
    started = [start_server(corpus_file, cache) for _ in range(2)]
    yield started
    for proc, _ in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.fixture(scope="module")
def local(corpus_file: Path, tmp_path_factory) -> BM25Retriever:
    return BM25Retriever(load_corpus(corpus_file), cache_dir=tmp_path_factory.mktemp("local"))


@pytest.mark.parametrize("protocol", ["search_r1", "jade_search"])
def test_round_trip_equals_in_process(servers, local: BM25Retriever, protocol: str) -> None:
    remote = RemoteRetriever(servers[0][1], protocol=protocol)
    assert remote.corpus_hash == local.corpus_hash  # read from our server's /info
    got = remote.search(QUERIES, 5)
    want = local.search(QUERIES, 5)
    assert [[(h.id, h.title, h.text, h.rank) for h in r] for r in got] == [[(h.id, h.title, h.text, h.rank) for h in r] for r in want]
    for g, w in zip(got, want, strict=True):
        assert [h.score for h in g] == pytest.approx([h.score for h in w], rel=1e-6)


def test_raw_protocol_shapes(servers) -> None:
    url = servers[0][1]
    body = json.dumps({"queries": ["Demon Dice"], "topk": 2, "return_scores": True}).encode()
    req = urllib.request.Request(url + "/retrieve", data=body, headers={"Content-Type": "application/json"})
    reply = json.loads(urllib.request.urlopen(req, timeout=10).read())
    doc = reply["result"][0][0]
    assert set(doc) == {"document", "score"} and doc["document"]["contents"].startswith('"Demon Dice"\n')
    body = json.dumps({"questions": ["Demon Dice"], "N": 2}).encode()
    req = urllib.request.Request(url + "/search", data=body, headers={"Content-Type": "application/json"})
    reply = json.loads(urllib.request.urlopen(req, timeout=10).read())
    assert reply[0][0]["title"] == "Demon Dice" and len(reply[0]) == 2


def test_request_limits_are_clear_errors(servers) -> None:
    url = servers[0][1]
    for body, status, message in [
        ({"queries": ["q"] * 65, "topk": 3}, 422, "at most 64"),
        ({"queries": ["q"], "topk": 1000}, 422, "integer from 0 to 100"),
        ({"queries": "not a list", "topk": 3}, 422, "list of strings"),
    ]:
        req = urllib.request.Request(url + "/retrieve", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == status and message in json.loads(err.value.read())["error"]
    # an oversized body is refused from its Content-Length, before the server reads it
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /retrieve HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {5 << 20}\r\n\r\n".encode())
        reply = b""
        while b"at most" not in reply and len(reply) < 8192:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413") and b"at most" in reply
    started = time.time()
    with pytest.raises(RetrievalError, match="HTTP 422"):
        RemoteRetriever(url, retries=3).search(["q"] * 65, 3)  # a client error is not retried
    assert time.time() - started < 5


def test_concurrent_requests_are_batched(servers) -> None:
    url = servers[1][1]
    before = json.loads(urllib.request.urlopen(url + "/info", timeout=5).read())["batched_calls"]
    remote = RemoteRetriever(url, protocol="jade_search", corpus_hash="x")
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: remote.search([f"film director {i}"], 3), range(48)))
    assert all(len(r) == 1 for r in results)
    after = json.loads(urllib.request.urlopen(url + "/info", timeout=5).read())["batched_calls"]
    assert after - before < 48


class _Junk(BaseHTTPRequestHandler):
    mode = "junk"

    def log_message(self, *args) -> None:
        return

    def do_POST(self) -> None:
        if self.mode == "stall":
            time.sleep(3)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<html>not json</html>" if self.mode == "junk" else b'{"result": "wrong shape"}')


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # the client gave up on a stalled reply: expected
        return


def junk_server(mode: str) -> tuple[ThreadingHTTPServer, str]:
    handler = type(f"Handler_{mode}", (_Junk,), {"mode": mode})
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("mode", ["junk", "shape", "stall"])
def test_junk_and_stalling_servers_fail_cleanly(mode: str) -> None:
    server, url = junk_server(mode)
    try:
        started = time.time()
        with pytest.raises(RetrievalError) as err:
            RemoteRetriever(url, timeout=0.5, retries=1, backoff=0.05, corpus_hash="x").search(["q"], 3)
        assert url in str(err.value)
        assert time.time() - started < 5  # bounded: never a hang
    finally:
        server.shutdown()


def test_failover_between_two_servers_when_one_is_stopped(servers, local: BM25Retriever) -> None:
    (proc_a, url_a), (_, url_b) = servers
    remote = RemoteRetriever([url_a, url_b], timeout=2.0, retries=2, backoff=0.05, corpus_hash=local.corpus_hash)
    assert remote.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"
    proc_a.terminate()
    proc_a.wait(10)
    assert remote.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"  # url_a refuses, url_b answers
    started = time.time()
    with pytest.raises(RetrievalError, match="retrieval failed after 3 attempt"):
        RemoteRetriever([url_a], timeout=1.0, retries=2, backoff=0.05, corpus_hash="x").search(["q"], 1)
    assert time.time() - started < 5

"""``jade-rag serve-retriever`` as a real subprocess on loopback, queried by ``RemoteRetriever`` in both protocols."""

from __future__ import annotations

import copy
import json
import pickle
import random
import re
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jade_env.data import load_corpus
from jade_env.errors import RetrievalError
from jade_env.retrieval.bm25 import BM25Retriever
from jade_env.retrieval.remote import RemoteRetriever, content_id
from jade_env.retrieval.server import listen, refusing
from jade_env.retrieval.server_process import SERVING, ServerProcess

pytest.importorskip("fastapi", reason="the server extra is not installed")
pytest.importorskip("uvicorn", reason="the server extra is not installed")

QUERIES = ["Demon Dice collectible game", "American film director", "", "river in Germany", "x" * 20_000]
# short timeouts, so that the idle, slow and unread-connection cases finish in a second or two
LIMITS = ["--max-queries", "64", "--max-hits", "2000", "--read-timeout", "1.5", "--keep-alive", "1", "--max-in-flight", "2",
          "--queue-timeout", "0.5", "--max-cache-bytes", str(1 << 20)]


@pytest.fixture(scope="module")
def corpus_file(shared_data: Path) -> Path:
    return shared_data / "hotpotqa" / "hotpotqa_train_corpus.json"


@pytest.fixture(scope="module")
def servers(corpus_file: Path, tmp_path_factory):
    cache = tmp_path_factory.mktemp("server-cache")
    started = [ServerProcess(["--corpus", corpus_file, "--cache-dir", cache, *LIMITS]) for _ in range(2)]
    yield started
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def local(corpus_file: Path, tmp_path_factory) -> BM25Retriever:
    return BM25Retriever(load_corpus(corpus_file), cache_dir=tmp_path_factory.mktemp("local"))


def post(url: str, body: object, timeout: float = 10) -> tuple[int, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if not isinstance(body, bytes) else body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        assert err.headers.get("content-type", "").startswith("application/json"), err.headers
        return err.code, json.loads(err.read())


def raw_exchange(url: str, data: bytes, wait: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        reply = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            reply += chunk
    return reply


def test_the_printed_address_is_the_bound_one_and_answers(servers) -> None:
    # ServerProcess runs --port 0 and learns the port from this line: no race for a "free" port between two processes
    for server in servers:
        line = SERVING.search(server.output())
        assert line is not None and server.url == f"http://127.0.0.1:{line.group(2)}", server.output()
        assert post(server.url + "/retrieve", {"queries": ["river"], "topk": 1})[0] == 200
    assert servers[0].port != servers[1].port


def test_server_process_finds_a_server_bound_elsewhere_than_127_0_0_1(tmp_path: Path) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    for args, prefix in ((["--host", "::1"], "http://[::1]:"), (["--host=0.0.0.0"], "http://127.0.0.1:")):
        with ServerProcess(["--corpus", "synthetic:50", "--cache-dir", tmp_path, *args]) as server:
            assert server.url.startswith(prefix) and post(server.url + "/retrieve", {"queries": ["river"], "topk": 1})[0] == 200


@pytest.mark.parametrize(("host", "message"), [("127.0.0.1", "Address already in use"), ("192.0.2.1", "Cannot assign requested address")])
def test_a_port_that_cannot_be_bound_is_one_line_before_any_index_is_built(tmp_path: Path, host: str, message: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "jade_env.cli", "serve-retriever", "--corpus", "synthetic:50", "--host", host,
                              "--port", str(port), "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == "", (out.stdout, out.stderr)
    assert out.stderr.strip() == f"jade-rag serve-retriever: error: cannot listen on {host}:{port}: {message}", out.stderr
    assert not (tmp_path / "cache").exists()  # refused before the index was built


@pytest.mark.parametrize("protocol", ["search_r1", "jade_search"])
def test_round_trip_equals_in_process(servers, local: BM25Retriever, protocol: str) -> None:
    remote = RemoteRetriever(servers[0].url, protocol=protocol)
    assert remote.corpus_hash == local.corpus_hash  # read from our server's /info
    got = remote.search(QUERIES, 5)
    want = local.search(QUERIES, 5)
    assert [[(h.id, h.title, h.text, h.rank) for h in r] for r in got] == [[(h.id, h.title, h.text, h.rank) for h in r] for r in want]
    for g, w in zip(got, want, strict=True):
        assert [h.score for h in g] == pytest.approx([h.score for h in w], rel=1e-6)


def test_large_batches_are_split_to_the_servers_limits(servers, local: BM25Retriever) -> None:
    """200 queries at k=100 is 20,000 passages: the client sends requests of at most max_batch queries and max_hits
    passages (the server's --max-queries 64 and --max-hits 2000 here), and gets what one process would."""
    queries = [QUERIES[i % len(QUERIES)] + f" {i}" for i in range(200)]
    got = RemoteRetriever(servers[0].url, max_batch=64, max_hits=2000).search(queries, 100)
    assert [[h.id for h in r] for r in got] == [[h.id for h in r] for r in local.search(queries, 100)]
    with pytest.raises(RetrievalError, match="at most 2000"):
        RemoteRetriever(servers[0].url, max_batch=64, max_hits=100_000).search(queries, 100)


def test_batches_are_split_to_the_servers_body_limit_and_sent_as_utf8(servers, local: BM25Retriever) -> None:
    """64 queries of 10,000 characters with emoji are 7.7 MB escaped, over the server's 4 MiB body limit (413 before), and
    2.6 MB as UTF-8, as they are sent now; a client limit of 1 MiB splits them by size; a lone surrogate (not UTF-8) is
    sent escaped. The hits are one process's every time."""
    queries = [f"river {i} Germany " + "\U0001f30a" * 9_900 for i in range(63)] + ["river \ud800 Germany"]
    assert sum(len(json.dumps(q)) for q in queries) > 4 << 20
    expected = [[h.id for h in r] for r in local.search(queries, 3)]
    for body_limit in (4 << 20, 1 << 20):
        got = RemoteRetriever(servers[0].url, max_batch=64, max_hits=2000, max_body_bytes=body_limit).search(queries, 3)
        assert [[h.id for h in r] for r in got] == expected


def test_a_server_url_without_a_scheme_is_refused_at_once() -> None:
    for bad, hint in (("localhost:8000", r" \(http://localhost:8000\?\)"), ("ftp://host", ""), ("http://", "")):
        with pytest.raises(RetrievalError, match=f"server URL '{re.escape(bad)}' is not an http\\(s\\) URL; expected http://HOST:PORT{hint}"):
            RemoteRetriever(["http://127.0.0.1:9", bad])


def test_search_r1_request_and_reply_shapes(servers, local: BM25Retriever) -> None:
    from jade_env.retrieval.server import RetrieveResponse

    url = servers[0].url
    status, scored = post(url + "/retrieve", {"queries": ["Demon Dice"], "topk": 2, "return_scores": True})
    assert status == 200 and set(scored["result"][0][0]) == {"document", "score"}
    RetrieveResponse.model_validate(scored)  # the reply is what /openapi.json says it is
    # Search-R1's defaults: return_scores false -> documents unwrapped; topk null, missing or 0 -> the server's default (3)
    for body in ({"queries": ["Demon Dice"], "topk": None}, {"queries": ["Demon Dice"]}, {"queries": ["Demon Dice"], "topk": 0}):
        status, plain = post(url + "/retrieve", body)
        assert status == 200 and len(plain["result"][0]) == 3, body
        doc = plain["result"][0][0]
        assert set(doc) == {"id", "title", "text", "contents"}
        RetrieveResponse.model_validate(plain)
    want = local.search(["Demon Dice"], 1)[0][0]
    # this corpus has bare titles: no quotes are added (a corpus that quotes them keeps them: test_dense_index.py)
    assert doc == {"id": want.id, "title": "Demon Dice", "text": want.text, "contents": f"Demon Dice\n{want.text}"}
    status, reply = post(url + "/search", {"questions": ["Demon Dice"], "N": 2})
    assert status == 200 and reply[0][0]["title"] == "Demon Dice" and len(reply[0]) == 2


def test_openapi_documents_the_models(servers) -> None:
    spec = json.loads(urllib.request.urlopen(servers[0].url + "/openapi.json", timeout=10).read())
    schemas = spec["components"]["schemas"]
    assert {"RetrieveRequest", "RetrieveResponse", "Document", "ScoredDocument", "SearchRequest", "ErrorResponse"} <= set(schemas)
    assert set(schemas["RetrieveRequest"]["properties"]) == {"queries", "topk", "return_scores"}
    responses = spec["paths"]["/retrieve"]["post"]["responses"]
    assert "RetrieveResponse" in json.dumps(responses["200"]) and "ErrorResponse" in json.dumps(responses["413"])


def test_every_refusal_is_a_json_error(servers) -> None:
    url = servers[0].url
    for body, status, message in [
        ({"queries": ["q"] * 65, "topk": 3}, 422, "at most 64"),
        ({"queries": ["q"], "topk": 1000}, 422, "integer from 0 to 100"),
        ({"queries": "not a list", "topk": 3}, 422, '"queries"'),
        ({"queries": ["q"], "topk": True}, 422, '"topk"'),  # not k = 1
        ({"queries": ["q"], "topk": "3"}, 422, '"topk"'),
        ({"queries": ["q"], "topk": 2.0}, 422, '"topk"'),
        ({"queries": ["q"], "return_scores": "yes"}, 422, '"return_scores"'),
        (b"{not json", 422, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nests too deeply"),
        (b'{"queries": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", 400, "nests too deeply"),
    ]:
        got, reply = post(url + "/retrieve", body)
        assert got == status and message in reply["error"], (str(body)[:40], got, reply)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "/nowhere", timeout=10)
    assert err.value.code == 404 and "error" in json.loads(err.value.read())
    # a malformed request line is refused by the protocol layer, as JSON too
    reply = raw_exchange(url, b"NOT HTTP AT ALL\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and b'"error"' in reply
    started = time.time()
    with pytest.raises(RetrievalError, match="HTTP 422"):
        RemoteRetriever(url, retries=3).search(["q"] * 65, 3)  # a client error is not retried
    assert time.time() - started < 5


def test_oversized_bodies_are_refused_while_they_arrive(servers) -> None:
    server = servers[0]
    head = "POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    # announced: refused from the Content-Length, before the server reads it
    reply = raw_exchange(server.url, f"{head}Content-Length: {5 << 20}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 413") and b"at most" in reply
    # chunked, with no Content-Length: refused once 4 MiB have come, and the connection is closed
    before = server.rss_bytes()
    host, port = server.url.removeprefix("http://").split(":")
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
    sent, reply = 0, b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < 64 << 20:
                sock.sendall(chunk)
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while data := sock.recv(65536):
                reply += data
        except (ConnectionResetError, TimeoutError):
            pass
    assert sent < 64 << 20, "the server read all 64 MiB instead of closing at 4 MiB"
    assert b"413" in reply.split(b"\r\n", 1)[0] or reply == b""  # the reply can be lost to the reset of a closed socket
    assert server.rss_bytes() - before < 32 << 20


def test_idle_and_slow_connections_are_closed(servers) -> None:
    url = servers[1].url
    started = time.time()
    assert raw_exchange(url, b"").startswith(b"HTTP/1.1 408")  # never sends a byte: closed after --read-timeout
    assert 1.0 < time.time() - started < 5
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # trickles its headers
        started, reply = time.time(), b""
        try:
            for byte in b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            reply = sock.recv(4096)
        except ConnectionResetError:
            pass
    assert reply.startswith(b"HTTP/1.1 408") and time.time() - started < 5
    # headers complete, body trickled: 408 from the body deadline
    reply = raw_exchange(url, b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply
    # a kept-alive connection that goes idle after its reply is closed after --keep-alive
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        body = b'{"queries": ["Demon Dice"], "topk": 1}'
        sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        started, got = time.time(), b""
        while chunk := sock.recv(65536):
            got += chunk
        assert got.startswith(b"HTTP/1.1 200") and time.time() - started < 5


def test_concurrency_limit_answers_503_as_json(servers) -> None:
    url = servers[1].url
    host, port = url.removeprefix("http://").split(":")
    holders = [socket.create_connection((host, int(port)), timeout=10) for _ in range(2)]
    try:
        for sock in holders:  # each holds one of the two slots with a body that is still arriving
            sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
        time.sleep(0.2)
        status, reply = post(url + "/retrieve", {"queries": ["q"], "topk": 1})
        assert status == 503 and "retry later" in reply["error"]
    finally:
        for sock in holders:
            sock.close()
    time.sleep(1.6)  # the held slots are freed by the body deadline
    assert post(url + "/retrieve", {"queries": ["q"], "topk": 1})[0] == 200


def test_unique_words_do_not_grow_the_server(servers) -> None:
    url = servers[1].url
    rng = random.Random(0)
    for _ in range(30):
        queries = [" ".join("".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(50)) for _ in range(64)]
        assert post(url + "/retrieve", {"queries": queries, "topk": 1})[0] == 200
    info = json.loads(urllib.request.urlopen(url + "/info", timeout=5).read())
    assert info["cache_bytes"] <= 1 << 20 and info["cache_clears"] >= 1  # 96,000 unique words went through a 1 MiB memo


def test_concurrent_requests_are_batched(servers) -> None:
    url = servers[0].url
    before = json.loads(urllib.request.urlopen(url + "/info", timeout=5).read())["batched_calls"]
    remote = RemoteRetriever(url, protocol="jade_search", corpus_hash="x")
    with ThreadPoolExecutor(2) as pool:  # the server takes two requests at once (--max-in-flight 2)
        results = list(pool.map(lambda i: remote.search([f"film director {i}"], 3), range(24)))
    assert all(len(r) == 1 for r in results)
    after = json.loads(urllib.request.urlopen(url + "/info", timeout=5).read())["batched_calls"]
    assert after - before <= 24


def test_remote_retriever_pickles_as_its_arguments(servers, local: BM25Retriever) -> None:
    remote = RemoteRetriever(servers[0].url, timeout=3.0, retries=1)
    remote.search(["Demon Dice"], 1)  # opens a connection: the copies must not share it
    for clone in (pickle.loads(pickle.dumps(remote)), copy.deepcopy(remote)):
        assert (clone.urls, clone.timeout, clone.retries, clone.deadline, clone.corpus_hash) == (
            remote.urls, remote.timeout, remote.retries, remote.deadline, local.corpus_hash)
        assert clone.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"
        clone.close()
    assert len(pickle.dumps(remote)) < 1000


# ----------------------------------------------------------------------------- servers that misbehave
class _Misbehaving(BaseHTTPRequestHandler):
    mode = "junk"

    def log_message(self, *args) -> None:
        return

    def _reply(self) -> None:
        if self.mode == "stall":
            time.sleep(3)
        if self.mode == "trickle":  # one byte a second, forever: each read succeeds, so per-read timeouts never fire
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(60):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            return
        if self.mode == "no_ids":  # Search-R1's BM25 server: {title, text, contents}, no id
            length = int(self.headers.get("Content-Length", 0))
            queries = json.loads(self.rfile.read(length))["queries"] if length else []
            docs = [{"title": "Demon Dice", "text": "a dice game", "contents": '"Demon Dice"\na dice game'}]
            body = json.dumps({"result": [[{"document": d, "score": 1.5} for d in docs] for _ in queries]}).encode()
        else:
            body = b"<html>not json</html>" if self.mode == "junk" else b'{"result": "wrong shape"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = _reply


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # the client gave up on a stalled reply: expected
        return


def misbehaving_server(mode: str) -> tuple[ThreadingHTTPServer, str]:
    handler = type(f"Handler_{mode}", (_Misbehaving,), {"mode": mode})
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("mode", ["junk", "shape", "stall"])
def test_junk_and_stalling_servers_fail_cleanly(mode: str) -> None:
    server, url = misbehaving_server(mode)
    try:
        started = time.time()
        with pytest.raises(RetrievalError) as err:
            RemoteRetriever(url, timeout=0.5, retries=1, backoff=0.05, corpus_hash="x").search(["q"], 3)
        assert url in str(err.value)
        assert time.time() - started < 5  # bounded: never a hang
    finally:
        server.shutdown()


def test_trickling_server_fails_within_the_deadline() -> None:
    server, url = misbehaving_server("trickle")
    try:
        started = time.monotonic()
        remote = RemoteRetriever(url, timeout=2.0, retries=1, backoff=0.05)  # asks /info: trickled too
        built = time.monotonic() - started
        assert remote.corpus_hash == "remote:unknown" and built < remote.deadline + 1.0
        started = time.monotonic()
        with pytest.raises(RetrievalError, match="no complete reply in time"):
            remote.search(["q"], 3)
        assert time.monotonic() - started < remote.deadline + 1.0
        started = time.monotonic()
        with pytest.raises(RetrievalError):
            RemoteRetriever(url, timeout=10.0, retries=3, deadline=1.5, corpus_hash="x").search(["q"], 3)
        assert time.monotonic() - started < 1.5 + 1.0  # the deadline wins over timeout x attempts
    finally:
        server.shutdown()


def test_documents_without_ids_get_content_hashes_with_a_warning() -> None:
    server, url = misbehaving_server("no_ids")
    try:
        remote = RemoteRetriever(url, corpus_hash="x")
        with pytest.warns(RuntimeWarning, match="without an id"):
            hits = remote.search(["a", "b"], 3)
        assert hits[0][0].id == content_id('"Demon Dice"\na dice game') == hits[1][0].id
        assert (hits[0][0].title, hits[0][0].text, hits[0][0].score) == ("Demon Dice", "a dice game", 1.5)
    finally:
        server.shutdown()


def test_a_starting_server_turns_clients_away_at_once(servers, local: BM25Retriever) -> None:
    """While serve-retriever builds its index its port listens (a second server on it fails at once) and each connection
    is closed at once: a client fails over to the next replica instead of waiting for its timeout in the backlog."""
    sock = listen("127.0.0.1", 0)
    starting = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with refusing(sock):
        started = time.monotonic()
        with pytest.raises(OSError):  # closed or reset, not answered
            urllib.request.urlopen(starting + "/health", timeout=5)
        remote = RemoteRetriever([starting, servers[1].url], timeout=5.0, retries=2, backoff=0.05, corpus_hash=local.corpus_hash)
        assert remote.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"
        assert time.monotonic() - started < 2.5  # a waiting client would have taken 5 s at each of the two calls
    with socket.create_connection(sock.getsockname(), timeout=5):  # after the block a connection waits for the server
        conn, _ = sock.accept()
        conn.close()
    sock.close()


def test_failover_between_two_servers_when_one_is_stopped(servers, local: BM25Retriever) -> None:
    a, b = servers
    remote = RemoteRetriever([a.url, b.url], timeout=2.0, retries=2, backoff=0.05, corpus_hash=local.corpus_hash)
    assert remote.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"
    a.stop()
    assert remote.search(["Demon Dice"], 1)[0][0].title == "Demon Dice"  # a refuses, b answers
    started = time.time()
    with pytest.raises(RetrievalError, match="retrieval failed after 3 attempt"):
        RemoteRetriever([a.url], timeout=1.0, retries=2, backoff=0.05, corpus_hash="x").search(["q"], 1)
    assert time.time() - started < 5

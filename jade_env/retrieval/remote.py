"""``RemoteRetriever``: an HTTP client for the retrieval-server protocols already in use.

=================  ======================================================================================
protocol           request and response
=================  ======================================================================================
``search_r1``      ``POST /retrieve`` ``{"queries": [...], "topk": k, "return_scores": true}`` ->
                   ``{"result": [[{"document": {...}, "score"}, ...], ...]}``; with ``return_scores: false``
                   the documents are not wrapped: ``{"result": [[{...}, ...], ...]}`` (Search-R1's
                   ``search_r1/search/retrieval_server.py``). A document is the corpus row: ``{"id",
                   "contents"}`` with ``contents`` = ``"Title"\\ntext`` for the Wikipedia-2018 dump, or, from
                   Search-R1's BM25 server, ``{"title", "text", "contents"}`` with no id at all.
``jade_search``    ``POST /search`` ``{"questions": [...], "N": k}`` -> a list, per question, of documents;
                   a document is an object (``id``, ``title``, ``text`` or ``contents``, ``score``) or a
                   string ``"title\\ntext"``; the list may be wrapped as ``{"result": ...}`` or
                   ``{"documents": ...}``. This is the form of the JADE authors' earlier systems as far as
                   their released code shows it; the shape of the reply was not documented, so every
                   one of these shapes is accepted (and ``jade-rag serve-retriever`` sends objects).
=================  ======================================================================================

A document without an id (Search-R1's BM25 server sends none) gets a content id, ``"r"`` + the first
16 hex digits of the SHA-1 of its ``contents``, so that ``info["retrieved_ids"]`` and the replay cache
still name passages; a ``RuntimeWarning`` says so once per retriever.

Batches: one ``search`` call is sent as requests of at most ``max_batch`` queries (256), ``max_body_bytes`` of JSON (4 MiB,
sent as UTF-8) and ``max_hits`` passages,
queries x k (16,384, our server's default ``--max-hits``); lower them for a server started with lower limits.

Time: every ``search`` call (and the construction, which asks our server's ``GET /info`` for its corpus
hash) has one wall-clock **deadline**, ``deadline`` seconds, across every retry and fail-over; each
attempt also stops after ``timeout`` seconds. Both are enforced below every socket operation (connect,
each write, each read), so a server that trickles one byte a second cannot stretch a call past its
deadline: it fails within the deadline plus the one read in progress. A failed attempt (connection
refused, timeout, HTTP 5xx or 429, a reply that is not JSON or not the expected shape or count) is
retried ``retries`` times with exponential backoff, moving on to the next URL each time (fail-over:
list several replicas of one index), and then one :class:`~jade_env.errors.RetrievalError` names
every URL with its last error. The default deadline, ``(retries + 1) * timeout`` plus the backoffs,
is the bound earlier versions only promised.

Transport: httpcore (encode's HTTP/1.1 engine under httpx, a core dependency: pure Python, with h11).
It keeps connections alive between calls (one TCP handshake per worker, not per call) and exposes
its socket layer as a public ``NetworkBackend``, which is where the deadline is enforced. httpx itself
adds nothing here: its timeouts, like urllib's, apply per socket read, so neither bounds a trickle.
Connections are per process (re-opened after ``fork``); the retriever pickles as its construction
arguments, so env copies and spawned workers reconnect instead of sharing sockets.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever, check_search
from jade_env.retrieval.jsonl_passages import split_contents

PROTOCOLS = ("search_r1", "jade_search")
#: the largest reply read (a bigger one is a junk reply): 256 queries x k=100 x ~1 KB passages is ~26 MB
MAX_REPLY_BYTES = 128 << 20
_WRITE_CHUNK = 64 << 10


class JunkReply(ValueError):
    """The server answered, but not with what the protocol promises."""


class DeadlineExceeded(TimeoutError):
    """The call's wall-clock deadline passed during a socket operation."""


def content_id(contents: str) -> str:
    """The id given to a document that came without one: ``"r"`` + 16 hex digits of SHA-1 of its contents."""
    return "r" + hashlib.sha1(contents.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _text_field(doc: dict, key: str) -> str | None:
    value = doc.get(key)
    if value is None or isinstance(value, str):
        return value
    raise JunkReply(f'a document\'s "{key}" is {type(value).__name__}, expected a string')


def _hit(doc: Any, score: Any, rank: int) -> tuple[Hit, bool]:
    """One hit, and whether its id had to be made from its contents."""
    if isinstance(doc, str):
        title, text = split_contents(doc)
        return Hit(content_id(doc), title, text, _score(score), rank), True
    if not isinstance(doc, dict):
        raise JunkReply(f"a document is {type(doc).__name__}, expected an object or a string")
    contents, title, text = _text_field(doc, "contents"), _text_field(doc, "title"), _text_field(doc, "text")
    if title is None:
        if contents is None:
            raise JunkReply('a document has neither "title" nor "contents"')
        title, text = split_contents(contents)
    elif text is None:
        text = split_contents(contents)[1] if contents is not None else ""
    raw_id = doc.get("id", doc.get("docid"))
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int | type(None)):
        raise JunkReply(f"a document id is {type(raw_id).__name__}, expected a string or an integer")
    made = raw_id is None or raw_id == ""
    pid = content_id(contents if contents is not None else f"{title}\n{text}") if made else str(raw_id)
    return Hit(pid, title, text, _score(doc.get("score", score)), rank), made


def _score(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JunkReply(f"a score is {type(value).__name__}, expected a number")
    return float(value)


def parse_reply(protocol: str, reply: Any, n_queries: int) -> tuple[list[list[Hit]], int]:
    """Hits per query from a server reply, and how many documents came without an id; or JunkReply."""
    if protocol == "search_r1":
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), list):
            raise JunkReply('expected {"result": [...]}')
        lists = reply["result"]
    else:
        lists = reply.get("result", reply.get("documents")) if isinstance(reply, dict) else reply
        if not isinstance(lists, list):
            raise JunkReply("expected a list of documents per question")
    if len(lists) != n_queries:
        raise JunkReply(f"{len(lists)} result lists for {n_queries} queries")
    out, no_id = [], 0
    for docs in lists:
        if not isinstance(docs, list):
            raise JunkReply("a result list is not a list")
        hits = []
        for rank, item in enumerate(docs):
            if protocol == "search_r1" and isinstance(item, dict) and isinstance(item.get("document"), dict | str):
                hit, made = _hit(item["document"], item.get("score"), rank)
            else:
                hit, made = _hit(item, None, rank)
            hits.append(hit)
            no_id += made
        out.append(hits)
    return out, no_id


# ----------------------------------------------------------------------------- the deadline transport
class _Deadlines(threading.local):
    """The deadline of the request the current thread is making (``time.monotonic()`` seconds)."""

    at: float = math.inf

    def left(self, timeout: float | None, kind: str) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(f"deadline passed while waiting to {kind}")
        return remaining if timeout is None else min(timeout, remaining)


def _transport(deadlines: _Deadlines):
    """A ``httpcore.ConnectionPool`` whose every socket operation ends by the calling thread's deadline."""
    try:
        import httpcore
    except ImportError:  # pragma: no cover - a core dependency
        raise RetrievalError("RemoteRetriever needs httpcore: pip install httpcore") from None

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self.inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self.inner.read(max_bytes, deadlines.left(timeout, "read"))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            view = memoryview(buffer)
            for start in range(0, len(view), _WRITE_CHUNK):  # so that a server that reads slowly meets the deadline too
                self.inner.write(bytes(view[start: start + _WRITE_CHUNK]), deadlines.left(timeout, "write"))

        def close(self) -> None:
            self.inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            return Stream(self.inner.start_tls(ssl_context, server_hostname, deadlines.left(timeout, "start TLS")))

        def get_extra_info(self, info: str) -> Any:
            return self.inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore.SyncBackend()

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            return Stream(self.inner.connect_tcp(host, port, deadlines.left(timeout, "connect"), local_address, socket_options))

        def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover - not used
            return Stream(self.inner.connect_unix_socket(path, deadlines.left(timeout, "connect"), socket_options))

        def sleep(self, seconds: float) -> None:  # pragma: no cover - retries are ours, not httpcore's
            time.sleep(seconds)

    # the server closes idle connections after 5 s (uvicorn's keep-alive); give them back sooner
    return httpcore.ConnectionPool(network_backend=Backend(), max_connections=64, max_keepalive_connections=16,
                                   keepalive_expiry=4.0, retries=0)


class HTTPStatusError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status, self.body = status, body

    def describe(self) -> str:
        try:
            body = json.loads(self.body[:4096])
        except ValueError:
            body = None
        message = (body.get("error") or body.get("detail")) if isinstance(body, dict) else None
        return f"HTTP {self.status}" + (f" ({str(message)[:200]})" if message else "")


class RemoteRetriever(Retriever):
    """A retrieval server (or several, with fail-over) behind the batched interface (see the module docstring)."""

    def __init__(self, urls: str | Sequence[str], protocol: str = "search_r1", timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, corpus_hash: str | None = None, max_batch: int = 256,
                 deadline: float | None = None, max_hits: int = 16_384, max_body_bytes: int = 4 << 20) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls or not all(isinstance(u, str) and u for u in self.urls):
            raise RetrievalError(f"RemoteRetriever needs at least one server URL, got {urls!r}")
        for url in self.urls:
            if not url.startswith(("http://", "https://")) or not url.split("://", 1)[1].strip("/"):
                raise RetrievalError(f"server URL {url!r} is not an http(s) URL; expected http://HOST:PORT"
                                     + (f" (http://{url}?)" if "://" not in url else ""))
        if protocol not in PROTOCOLS:
            raise RetrievalError(f"protocol {protocol!r} is unknown; expected one of {', '.join(PROTOCOLS)}")
        for name, value in (("timeout", timeout), ("backoff", backoff), ("deadline", deadline)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                                      or value < 0 or (value == 0 and name != "backoff")):
                raise RetrievalError(f"RemoteRetriever: {name}={value!r}; expected a finite number of seconds above 0")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise RetrievalError(f"RemoteRetriever: retries={retries!r}; expected an integer >= 0")
        self.protocol, self.timeout, self.retries, self.backoff = protocol, float(timeout), retries, float(backoff)
        for name, value in (("max_batch", max_batch), ("max_hits", max_hits), ("max_body_bytes", max_body_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetrievalError(f"RemoteRetriever: {name}={value!r}; expected a positive integer")
        # a request: at most max_batch queries, max_hits passages, a body of max_body_bytes (serve-retriever's defaults)
        self.max_batch, self.max_hits, self.max_body_bytes = max_batch, max_hits, max_body_bytes
        self.deadline = float(deadline) if deadline is not None else (
            (retries + 1) * self.timeout + sum(self.backoff * 2 ** i for i in range(max(0, retries + 1 - len(self.urls)))))
        self._deadlines = _Deadlines()
        self._pool: Any = None
        self._pid = -1
        self._lock = threading.Lock()
        self._warned_ids = False
        self.retriever_id = f"remote:{protocol}:{','.join(self.urls)}"
        self.corpus_hash = corpus_hash or self._server_corpus_hash() or "remote:unknown"

    def __reduce__(self):
        return (RemoteRetriever, (self.urls, self.protocol, self.timeout, self.retries, self.backoff, self.corpus_hash,
                                  self.max_batch, self.deadline, self.max_hits, self.max_body_bytes))

    # ------------------------------------------------------------------ transport
    def _connections(self) -> Any:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # a forked child must not share its parent's sockets
                self._pool, self._pid = _transport(self._deadlines), os.getpid()
            return self._pool

    def _request(self, method: str, url: str, body: bytes | None, until: float) -> bytes:
        """The body of a 2xx reply to one request, all of it by ``until`` (monotonic seconds)."""
        import httpcore

        self._deadlines.at = until
        timeout = max(until - time.monotonic(), 0.001)
        headers = [("Accept", "application/json")] + ([("Content-Type", "application/json")] if body is not None else [])
        try:
            with self._connections().stream(method, url, headers=headers, content=body,
                                            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}) as response:
                chunks, size = [], 0
                for chunk in response.iter_stream():
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise JunkReply(f"the reply is over {MAX_REPLY_BYTES >> 20} MiB")
                    chunks.append(chunk)
                    if time.monotonic() > until:
                        raise DeadlineExceeded("deadline passed while reading the reply")
                data = b"".join(chunks)
        except httpcore.TimeoutException as err:
            raise DeadlineExceeded(str(err) or "timed out") from None
        finally:
            self._deadlines.at = math.inf
        if response.status >= 300:
            raise HTTPStatusError(response.status, data)
        return data

    def _base(self, url: str) -> str:
        return url.rstrip("/").removesuffix("/retrieve").removesuffix("/search")

    def _endpoint(self, url: str) -> str:
        return self._base(url) + ("/retrieve" if self.protocol == "search_r1" else "/search")

    def _server_corpus_hash(self) -> str | None:
        """Our own server reports its corpus hash at ``GET /info``; other servers do not (then ``None``)."""
        call_ends = time.monotonic() + self.deadline
        for url in self.urls:
            until = min(time.monotonic() + min(self.timeout, 2.0), call_ends)
            if until <= time.monotonic():
                break
            try:
                found = json.loads(self._request("GET", self._base(url) + "/info", None, until)).get("corpus_hash")
            except Exception:  # noqa: BLE001 - any failure means "no corpus hash from this server"
                continue
            if isinstance(found, str) and found:
                return found
        return None

    # ------------------------------------------------------------------ search
    def _body(self, queries: list[str], k: int) -> bytes:
        """The request's JSON, as UTF-8 (a lone surrogate, which UTF-8 cannot hold, is sent escaped)."""
        request = {"queries": queries, "topk": k, "return_scores": True} if self.protocol == "search_r1" else {"questions": queries, "N": k}
        try:
            return json.dumps(request, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(request).encode("ascii")

    def _search_batch(self, queries: list[str], k: int, call_ends: float) -> list[list[Hit]]:
        body = self._body(queries, k)
        errors: dict[str, str] = {}
        started = time.monotonic()
        attempts = 0
        for attempt in range(self.retries + 1):
            url = self.urls[attempt % len(self.urls)]
            if attempt >= len(self.urls):
                time.sleep(max(0.0, min(self.backoff * 2 ** (attempt - len(self.urls)), call_ends - time.monotonic())))
            now = time.monotonic()
            if now >= call_ends:
                errors.setdefault(url, "not tried: the deadline had passed")
                break
            attempts += 1
            try:
                data = self._request("POST", self._endpoint(url), body, min(now + self.timeout, call_ends))
                hits, no_id = parse_reply(self.protocol, json.loads(data), len(queries))
            except HTTPStatusError as err:
                errors[url] = err.describe()
                if 400 <= err.status < 500 and err.status != 429:
                    break  # the request itself is wrong: no other server will take it either
                continue
            except DeadlineExceeded as err:
                errors[url] = f"no complete reply in time ({err})"
                continue
            except (ValueError, JunkReply) as err:  # json's errors are ValueErrors
                errors[url] = f"junk reply ({err})"
                continue
            except Exception as err:  # noqa: BLE001 - connection refused/reset, protocol errors: try the next server
                errors[url] = f"{type(err).__name__}: {err}"
                continue
            if no_id and not self._warned_ids:
                self._warned_ids = True
                warnings.warn(f"{url} sent {no_id} document(s) without an id; they are named by a hash of their contents "
                              "(\"r\" + 16 hex digits of SHA-1)", RuntimeWarning, stacklevel=3)
            return hits
        detail = "; ".join(f"{u}: {e}" for u, e in errors.items())
        raise RetrievalError(f"retrieval failed after {attempts} attempt(s) over {len(self.urls)} server(s) in "
                             f"{time.monotonic() - started:.1f} s (deadline {self.deadline:g} s per call): {detail}")

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
        queries = [(q if isinstance(q, str) else "")[:MAX_QUERY_CHARS] for q in queries]
        if k <= 0 or not queries:
            return [[] for _ in queries]
        call_ends = time.monotonic() + self.deadline
        out: list[list[Hit]] = []
        per = max(1, min(self.max_batch, self.max_hits // k))  # our server refuses more than --max-hits passages a reply
        room = self.max_body_bytes - len(self._body([], k))  # and a body over --max-body-bytes
        batch: list[str] = []
        utf8 = escaped = 0  # the batch's query strings in bytes, as UTF-8 and escaped (a lone surrogate escapes the body)
        lone = False
        for q in queries:
            q_escaped = len(json.dumps(q)) + 2  # with its ", "
            try:
                q_utf8, q_lone = len(json.dumps(q, ensure_ascii=False).encode("utf-8")) + 2, False
            except UnicodeEncodeError:
                q_utf8, q_lone = q_escaped, True
            if batch and (len(batch) == per or (escaped + q_escaped if lone or q_lone else utf8 + q_utf8) > room):
                out.extend(self._search_batch(batch, k, call_ends))
                batch, utf8, escaped, lone = [], 0, 0, False
            batch.append(q)
            utf8, escaped, lone = utf8 + q_utf8, escaped + q_escaped, lone or q_lone
        out.extend(self._search_batch(batch, k, call_ends))
        return out

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close()

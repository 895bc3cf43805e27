"""``RemoteRetriever``: an HTTP client for the retrieval-server protocols already in use.

=================  ======================================================================================
protocol           request and response
=================  ======================================================================================
``search_r1``      ``POST /retrieve`` ``{"queries": [...], "topk": k, "return_scores": true}`` ->
                   ``{"result": [[{"document": {"id", "contents"}, "score"}, ...], ...]}`` (Search-R1's
                   ``retrieval_server.py``; ``contents`` is ``"Title"\\ntext`` with the title quoted)
``jade_search``    ``POST /search`` ``{"questions": [...], "N": k}`` -> a list, per question, of documents;
                   a document is an object (``id``, ``title``, ``text`` or ``contents``, ``score``) or a
                   string ``"title\\ntext"``; the list may be wrapped as ``{"result": ...}`` or
                   ``{"documents": ...}``. This is the form of the JADE authors' earlier systems as far as
                   their released code shows it; the shape of the reply was not documented, so every
                   one of these shapes is accepted (and ``jade-rag serve-retriever`` sends objects).
=================  ======================================================================================

Each request has a ``timeout``; a failed request (connection refused, timeout, HTTP 5xx or 429, a
reply that is not JSON or not the expected shape or count) is retried ``retries`` times with
exponential backoff, moving on to the next URL each time (fail-over), and then one
:class:`~jade_env.errors.RetrievalError` names every URL with its last error. The total time is
bounded by ``(retries + 1) * (timeout + backoff * 2**retries)``: never a hang.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever

PROTOCOLS = ("search_r1", "jade_search")


class JunkReply(ValueError):
    """The server answered, but not with what the protocol promises."""


def _split_contents(contents: str) -> tuple[str, str]:
    title, _, text = contents.partition("\n")
    title = title.strip()
    if len(title) >= 2 and title[0] == title[-1] == '"':
        title = title[1:-1]
    return title, text


def _hit(doc: Any, score: Any, rank: int) -> Hit:
    if isinstance(doc, str):
        title, text = _split_contents(doc)
        return Hit("r" + hashlib.sha1(doc.encode("utf-8")).hexdigest()[:16], title, text, float(score or 0.0), rank)
    if not isinstance(doc, dict):
        raise JunkReply(f"a document is {type(doc).__name__}, expected an object or a string")
    if "contents" in doc and "title" not in doc:
        title, text = _split_contents(str(doc["contents"]))
    else:
        title, text = str(doc.get("title", "")), str(doc.get("text", doc.get("contents", "")))
    s = doc.get("score", score)
    return Hit(str(doc.get("id", doc.get("docid", ""))), title, text, float(s) if s is not None else 0.0, rank)


def parse_reply(protocol: str, reply: Any, n_queries: int) -> list[list[Hit]]:
    """Hits per query from a server reply, or JunkReply."""
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
    out = []
    for docs in lists:
        if not isinstance(docs, list):
            raise JunkReply("a result list is not a list")
        hits = []
        for rank, item in enumerate(docs):
            if protocol == "search_r1" and isinstance(item, dict) and "document" in item:
                hits.append(_hit(item["document"], item.get("score"), rank))
            else:
                hits.append(_hit(item, None, rank))
        out.append(hits)
    return out


def _server_message(err: urllib.error.HTTPError) -> str:
    """The server's own explanation of an HTTP error, when it sent one as JSON."""
    try:
        body = json.loads(err.read()[:4096])
    except (ValueError, OSError):
        return ""
    message = body.get("error") or body.get("detail") if isinstance(body, dict) else None
    return f" ({str(message)[:200]})" if message else ""


class RemoteRetriever(Retriever):
    """A retrieval server (or several, with fail-over) behind the batched interface."""

    def __init__(self, urls: str | Sequence[str], protocol: str = "search_r1", timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, corpus_hash: str | None = None, max_batch: int = 256) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise RetrievalError("RemoteRetriever needs at least one server URL")
        if protocol not in PROTOCOLS:
            raise RetrievalError(f"protocol {protocol!r} is unknown; expected one of {', '.join(PROTOCOLS)}")
        self.protocol, self.timeout, self.retries, self.backoff = protocol, timeout, retries, backoff
        self.max_batch = max_batch
        self.retriever_id = f"remote:{protocol}:{','.join(self.urls)}"
        self.corpus_hash = corpus_hash or self._server_corpus_hash() or "remote:unknown"

    def _endpoint(self, url: str) -> str:
        base = url.rstrip("/")
        path = "/retrieve" if self.protocol == "search_r1" else "/search"
        return base if base.endswith(path) else base + path

    def _server_corpus_hash(self) -> str | None:
        """Our own server reports its corpus hash at ``GET /info``; other servers do not (then ``None``)."""
        for url in self.urls:
            base = url.rstrip("/").removesuffix("/retrieve").removesuffix("/search")
            try:
                with urllib.request.urlopen(base + "/info", timeout=min(self.timeout, 2.0)) as response:
                    return str(json.loads(response.read()).get("corpus_hash")) or None
            except (OSError, ValueError, urllib.error.URLError):
                continue
        return None

    def _post(self, url: str, body: dict) -> Any:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self._endpoint(url), data=data, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def _search_batch(self, queries: list[str], k: int) -> list[list[Hit]]:
        body = ({"queries": queries, "topk": k, "return_scores": True} if self.protocol == "search_r1"
                else {"questions": queries, "N": k})
        errors: dict[str, str] = {}
        for attempt in range(self.retries + 1):
            url = self.urls[attempt % len(self.urls)]
            if attempt >= len(self.urls):
                time.sleep(self.backoff * 2 ** (attempt - len(self.urls)))
            try:
                return parse_reply(self.protocol, self._post(url, body), len(queries))
            except urllib.error.HTTPError as err:
                errors[url] = f"HTTP {err.code} {err.reason}{_server_message(err)}"
                if 400 <= err.code < 500 and err.code != 429:
                    break  # the request itself is wrong: no other server will take it either
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                errors[url] = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
            except (ValueError, JunkReply) as err:
                errors[url] = f"junk reply ({err})"
        detail = "; ".join(f"{u}: {e}" for u, e in errors.items())
        raise RetrievalError(f"retrieval failed after {self.retries + 1} attempt(s) over {len(self.urls)} server(s): {detail}")

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        queries = [(q if isinstance(q, str) else "")[:MAX_QUERY_CHARS] for q in queries]
        if k <= 0 or not queries:
            return [[] for _ in queries]
        out: list[list[Hit]] = []
        for start in range(0, len(queries), self.max_batch):
            out.extend(self._search_batch(queries[start: start + self.max_batch], k))
        return out

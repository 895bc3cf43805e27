"""Our retrieval server: both protocols of :mod:`jade_env.retrieval.remote` over any of our retrievers.

Routes: ``POST /retrieve`` (Search-R1), ``POST /search`` (the JADE authors' form), ``GET /health``,
``GET /info`` (retriever id, corpus hash, number of passages, limits, counters). Built on FastAPI and
uvicorn (extra ``server``). It binds 127.0.0.1 unless told otherwise. Request and reply bodies are
pydantic models, so ``GET /openapi.json`` (and ``/docs``) describe them.

``/retrieve`` behaves as Search-R1's ``retrieval_server.py``: ``topk`` missing, ``null`` or ``0``
means the server's default (``default_k``, 3 as in Search-R1's launch script); ``return_scores:
false`` (its default) gives the documents unwrapped, ``true`` wraps each as ``{"document", "score"}``.
A document is ``{"id", "title", "text", "contents"}``: Search-R1's corpus row ``{"id", "contents"}``
plus the ``title`` and ``text`` its BM25 server adds. ``contents`` is ``title\\ntext`` with the
title quoted only when the corpus quotes it (``quote_titles``; ``jade-rag serve-retriever`` reads
that off the corpus file, e.g. the Wikipedia-2018 dump writes ``"Title"``): a title is never quoted
twice, nor quoted where the corpus did not.

Limits (:mod:`jade_env.retrieval.server_limits`), each answered with a JSON ``{"error": ...}``: a body
over ``max_body_bytes`` (413, chunked bodies included, checked while they arrive), a request not
complete within ``read_timeout`` (408), more than ``max_in_flight`` requests for ``queue_timeout``
seconds (503), more than ``max_queries`` queries, ``k`` above ``max_k`` or queries x k above
``max_hits`` (422), JSON that cannot be read, nested too deeply included (400), and any failure
(500). A query over 10,000 characters is cut, as the retrievers do. The analyzer's word cache is
bounded in bytes (``max_cache_bytes``). Concurrent requests are batched: requests that arrive within
``batch_window`` seconds of each other are answered by one ``search`` call (run in a worker thread,
so the event loop stays free), which is what makes a server shared by many rollout workers cheap.
"""

# no `from __future__ import annotations` here: FastAPI and pydantic read the annotations at run time
import asyncio
import contextlib
import dataclasses
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever
from jade_env.retrieval.server_limits import RequestLimits, ServerLimits, protocol_class


# ----------------------------------------------------------------------------- the wire format
class RetrieveRequest(BaseModel):
    """Search-R1's ``QueryRequest``."""

    queries: list[str] = Field(description="the queries, answered in order")
    # strict: JSON true, 2.0 or "3" is a client's mistake, not k = 1, 2 or 3 (pydantic's lax mode would take them)
    topk: int | None = Field(None, strict=True, description="passages per query; null or 0: the server's default_k")
    return_scores: bool = Field(False, strict=True, description='wrap each document as {"document", "score"}')


class SearchRequest(BaseModel):
    """The ``/search`` form: ``{"questions": [...], "N": k}``."""

    questions: list[str]
    N: int | None = Field(None, strict=True, description="passages per question; null or 0: the server's default_k")


class Document(BaseModel):
    id: str
    title: str
    text: str
    contents: str = Field(description='"title\\ntext", the title quoted as the corpus quotes it')


class ScoredDocument(BaseModel):
    document: Document
    score: float


class RetrieveResponse(BaseModel):
    result: list[list[ScoredDocument]] | list[list[Document]] = Field(
        description="per query, best first; scored documents when return_scores is true")


class SearchDocument(Document):
    score: float


class ErrorResponse(BaseModel):
    error: str


class Info(BaseModel):
    model_config = ConfigDict(extra="allow")
    retriever_id: str
    corpus_hash: str
    passages: int | None
    batched_calls: int
    limits: dict[str, float]
    refused: dict[str, int]
    cache_bytes: int


# ----------------------------------------------------------------------------- batching
@dataclass
class _Pending:
    queries: list[str]
    k: int
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Gathers the queries of concurrent requests into one retriever call."""

    def __init__(self, retriever: Retriever, window: float = 0.005, max_batch: int = 512) -> None:
        self.retriever, self.window, self.max_batch = retriever, window, max_batch
        self.queue: asyncio.Queue[_Pending] | None = None
        self.calls = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        assert self.queue is not None
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(queries, k, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.window
            while sum(len(p.queries) for p in batch) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # a request whose client left is not searched
            if not batch:
                continue
            queries = [q for p in batch for q in p.queries]
            k = max(p.k for p in batch)
            self.calls += 1
            try:
                results = await loop.run_in_executor(None, self.retriever.search, queries, k)
            except Exception as err:  # the error goes to every waiting request, the server lives on
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(err)
                continue
            start = 0
            for p in batch:
                part = [hits[: p.k] for hits in results[start: start + len(p.queries)]]
                start += len(p.queries)
                if not p.future.done():
                    p.future.set_result(part)


# ----------------------------------------------------------------------------- memory
def bound_caches(retriever: Retriever, max_bytes: int) -> list[Any]:
    """Bound the word memo of the retriever's analyzer (BM25; on the retriever or the one it wraps) to ``max_bytes``.

    Fed by queries from outside, a memo must be bounded in bytes; the analyzers found are returned, so that
    ``/health`` can report their ``cache_bytes`` and ``clears``. A retriever without an analyzer has no memo.
    """
    analyzers: list[Any] = []
    for owner in (retriever, getattr(retriever, "inner", None)):
        analyzer = getattr(owner, "analyzer", None)
        if analyzer is not None and hasattr(analyzer, "cache_limit") and all(a is not analyzer for a in analyzers):
            analyzer.cache_limit = max_bytes
            analyzers.append(analyzer)
    return analyzers


def contents_of(hit: Hit, quote_titles: bool) -> str:
    return f'"{hit.title}"\n{hit.text}' if quote_titles else f"{hit.title}\n{hit.text}"


# ----------------------------------------------------------------------------- the application
def create_app(retriever: Retriever, n_passages: int | None = None, limits: ServerLimits | None = None,
               batch_window: float = 0.005, quote_titles: bool = False, **limit_overrides: Any):
    """The ASGI application serving ``retriever`` (FastAPI, wrapped in :class:`RequestLimits`)."""
    try:
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import JSONResponse
        from starlette.exceptions import HTTPException as StarletteHTTPException
    except ImportError:
        raise RetrievalError("the retrieval server needs FastAPI and uvicorn: pip install 'jade-env[server]'") from None
    limits = dataclasses.replace(limits or ServerLimits(), **limit_overrides)
    batcher = MicroBatcher(retriever, window=batch_window)
    memos = bound_caches(retriever, limits.max_cache_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="jade_env retrieval server", version="2", lifespan=lifespan,
                  description="Search-R1's /retrieve and the /search form over one of jade_env's retrievers.")
    app.state.batcher = batcher
    errors = {status: {"model": ErrorResponse} for status in (400, 408, 413, 422, 500, 503)}
    guard = RequestLimits(app, limits)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "the body"
            if e.get("type") == "json_invalid":
                problems.append(f"the body is not valid JSON ({e.get('ctx', {}).get('error', e.get('msg'))})")
            elif where == "the body":
                problems.append(f"the body must be a JSON object ({e.get('msg')}); send Content-Type: application/json")
            else:
                problems.append(f'"{where}": {e.get("msg")}')
        return error(422, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if isinstance(exc.__cause__, RecursionError):
            message = "the body's JSON nests too deeply to read"
        elif exc.status_code == 400 and exc.__cause__ is not None:
            message = f"the body cannot be read as JSON ({type(exc.__cause__).__name__})"
        return error(exc.status_code, message)

    def checked_k(k: int | None, name: str, n: int) -> int | JSONResponse:
        k = k or limits.default_k  # Search-R1: `if not request.topk: request.topk = config.retrieval_topk`
        if k < 0 or k > limits.max_k:
            return error(422, f'"{name}" must be an integer from 0 to {limits.max_k}, got {k}')
        if n > limits.max_queries:
            return error(422, f"{n} queries in one request; at most {limits.max_queries}")
        if n * k > limits.max_hits:
            return error(422, f"{n} queries x {name}={k} is {n * k} passages in one reply; at most {limits.max_hits}")
        return k

    async def run(queries: list[str], k: int) -> list[list[Hit]] | JSONResponse:
        if not queries:
            return []
        try:
            return await batcher.search([q[:MAX_QUERY_CHARS] for q in queries], k)
        except Exception as err:
            return error(500, f"retrieval failed: {type(err).__name__}: {err}")

    @app.post("/retrieve", response_model=RetrieveResponse, responses=errors)
    async def retrieve(request: RetrieveRequest) -> Any:
        """Search-R1's endpoint (see the module docstring for ``topk`` and ``return_scores``)."""
        k = checked_k(request.topk, "topk", len(request.queries))
        if isinstance(k, JSONResponse):
            return k
        results = await run(request.queries, k)
        if isinstance(results, JSONResponse):
            return results

        def doc(h: Hit) -> dict:
            return {"id": h.id, "title": h.title, "text": h.text, "contents": contents_of(h, quote_titles)}

        if request.return_scores:
            result = [[{"document": doc(h), "score": h.score} for h in hits] for hits in results]
        else:
            result = [[doc(h) for h in hits] for hits in results]
        return JSONResponse({"result": result})

    @app.post("/search", response_model=list[list[SearchDocument]], responses=errors)
    async def search(request: SearchRequest) -> Any:
        """The JADE authors' form: per question, a list of documents with their scores."""
        k = checked_k(request.N, "N", len(request.questions))
        if isinstance(k, JSONResponse):
            return k
        results = await run(request.questions, k)
        if isinstance(results, JSONResponse):
            return results
        return JSONResponse([[{"id": h.id, "title": h.title, "text": h.text, "contents": contents_of(h, quote_titles),
                               "score": h.score} for h in hits] for hits in results])

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info", response_model=Info)
    async def info() -> dict[str, Any]:
        return {"retriever_id": retriever.retriever_id, "corpus_hash": retriever.corpus_hash, "passages": n_passages,
                "batched_calls": batcher.calls, "limits": dataclasses.asdict(limits), "refused": guard.refused,
                "cache_bytes": sum(a.cache_bytes for a in memos), "cache_clears": sum(a.clears for a in memos)}

    guard.fastapi = app
    return guard


def listen(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: a free port, see ``getsockname()``), bound as uvicorn binds
    one: IPv6 when the host has a colon, else IPv4 (``""``: every interface), with ``SO_REUSEADDR``.

    Listening at once makes a port that another server holds, even one still building its index, one error
    now rather than after the build (:func:`refusing` closes the connections made meanwhile). A host that is
    not this machine's also raises :class:`RetrievalError` saying which.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait for TIME_WAIT
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError, UnicodeError) as err:
        sock.close()
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise RetrievalError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


@contextlib.contextmanager
def refusing(sock: socket.socket):
    """While the block runs (the index is built or opened), every connection to the listening ``sock`` is accepted and
    closed at once: a client of several replicas moves on to the next at once instead of waiting in the backlog for
    its timeout. After the block, connections wait for :func:`serve` again."""
    done = threading.Event()

    def close_each() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    sock.settimeout(0.05)  # how often the thread looks at ``done``
    thread = threading.Thread(target=close_each, name="refusing", daemon=True)
    thread.start()
    try:
        yield sock
    finally:
        done.set()
        thread.join()
        sock.settimeout(None)


def serve(retriever: Retriever, host: str = "127.0.0.1", port: int = 8000, n_passages: int | None = None,
          limits: ServerLimits | None = None, batch_window: float = 0.005, quote_titles: bool = False,
          sock: socket.socket | None = None, **limit_overrides: Any) -> None:
    """Run the server until interrupted, on ``sock`` (from :func:`listen`) or on a new one listening on ``host:port``."""
    try:
        import uvicorn
    except ImportError:
        raise RetrievalError("the retrieval server needs FastAPI and uvicorn: pip install 'jade-env[server]'") from None
    limits = dataclasses.replace(limits or ServerLimits(), **limit_overrides)
    app = create_app(retriever, n_passages=n_passages, limits=limits, batch_window=batch_window, quote_titles=quote_titles)
    sock = sock or listen(host, port)
    config = uvicorn.Config(app, log_level="warning", http=protocol_class(limits), lifespan="on",
                            timeout_keep_alive=limits.keep_alive, h11_max_incomplete_event_size=64 << 10)
    with sock:
        uvicorn.Server(config).run(sockets=[sock])

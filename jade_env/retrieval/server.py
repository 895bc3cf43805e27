"""Our retrieval server: both protocols of :mod:`jade_env.retrieval.remote` over any of our retrievers.

Routes: ``POST /retrieve`` (Search-R1), ``POST /search`` (the JADE authors' form), ``GET /health``,
``GET /info`` (retriever id, corpus hash, number of passages). Built on FastAPI and uvicorn (extra
``server``). It binds 127.0.0.1 unless told otherwise.

Limits, each answered with a clear JSON error: a body over ``max_body_bytes`` (413), more than
``max_queries`` queries or ``k`` above ``max_k`` (422), a query over 10,000 characters is cut, as the
retrievers do. Concurrent requests are batched: requests that arrive within ``batch_window`` seconds
of each other are answered by one ``search`` call (run in a worker thread, so the event loop stays
free), which is what makes a server shared by many rollout workers cheap.
"""

# no `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time
import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever


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


def create_app(retriever: Retriever, n_passages: int | None = None, max_queries: int = 1024, max_k: int = 100,
               max_body_bytes: int = 4 << 20, batch_window: float = 0.005):
    """The FastAPI application serving ``retriever``."""
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse
    except ImportError:
        raise RetrievalError("the retrieval server needs FastAPI and uvicorn: pip install 'jade-env[server]'") from None

    batcher = MicroBatcher(retriever, window=batch_window)
    app = FastAPI(title="jade_env retrieval server")
    app.state.batcher = batcher

    @app.on_event("startup")
    async def _start() -> None:
        await batcher.start()

    @app.on_event("shutdown")
    async def _stop() -> None:
        await batcher.stop()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    async def read(request: Request, list_key: str, k_key: str) -> tuple[list[str], int] | JSONResponse:
        length = int(request.headers.get("content-length") or 0)
        if length > max_body_bytes:
            return error(413, f"request body of {length} bytes; at most {max_body_bytes}")
        body = await request.body()
        if len(body) > max_body_bytes:
            return error(413, f"request body of {len(body)} bytes; at most {max_body_bytes}")
        try:
            payload = json.loads(body)
        except ValueError:
            return error(422, "the body is not JSON")
        if not isinstance(payload, dict):
            return error(422, f'expected a JSON object with "{list_key}" and "{k_key}"')
        queries = payload.get(list_key)
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return error(422, f'"{list_key}" must be a list of strings')
        if len(queries) > max_queries:
            return error(422, f"{len(queries)} queries in one request; at most {max_queries}")
        k = payload.get(k_key, 10)
        if isinstance(k, bool) or not isinstance(k, int) or k < 0 or k > max_k:
            return error(422, f'"{k_key}" must be an integer from 0 to {max_k}, got {k!r}')
        return [q[:MAX_QUERY_CHARS] for q in queries], k

    async def run(queries: list[str], k: int) -> list[list[Hit]] | JSONResponse:
        if not queries or k == 0:
            return [[] for _ in queries]
        try:
            return await batcher.search(queries, k)
        except Exception as err:
            return error(500, f"retrieval failed: {type(err).__name__}: {err}")

    @app.post("/retrieve")
    async def retrieve(request: Request) -> Any:
        got = await read(request, "queries", "topk")
        if isinstance(got, JSONResponse):
            return got
        results = await run(*got)
        if isinstance(results, JSONResponse):
            return results
        return {"result": [[{"document": {"id": h.id, "contents": f'"{h.title}"\n{h.text}'}, "score": h.score} for h in hits]
                           for hits in results]}

    @app.post("/search")
    async def search(request: Request) -> Any:
        got = await read(request, "questions", "N")
        if isinstance(got, JSONResponse):
            return got
        results = await run(*got)
        if isinstance(results, JSONResponse):
            return results
        return [[{"id": h.id, "title": h.title, "text": h.text, "contents": f"{h.title}\n{h.text}", "score": h.score}
                 for h in hits] for hits in results]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"retriever_id": retriever.retriever_id, "corpus_hash": retriever.corpus_hash, "passages": n_passages,
                "batched_calls": batcher.calls}

    return app


def serve(retriever: Retriever, host: str = "127.0.0.1", port: int = 8000, n_passages: int | None = None, **limits: Any) -> None:
    """Run the server until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise RetrievalError("the retrieval server needs FastAPI and uvicorn: pip install 'jade-env[server]'") from None
    uvicorn.run(create_app(retriever, n_passages=n_passages, **limits), host=host, port=port, log_level="warning")

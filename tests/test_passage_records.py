"""The passages' decoder in C (``_passage_records.c``) against Python's zlib and json, on the records the BM25 build
writes (``bm25._record``, compressed by ``bm25.analyse_chunk``), on JSON the build never writes, and on broken stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jade_env.data import Corpus, Passage, load_corpus
from jade_env.errors import RetrievalError
from jade_env.retrieval import bm25 as module
from jade_env.retrieval.bm25 import BM25Retriever

records_c = pytest.importorskip("jade_env.retrieval._passage_records", reason="the C decoder is not compiled here")

ZDICT = json.dumps(["p0", "A title", "the river runs through the old town, past the bridge"]).encode() * 40


def store(records: list[bytes], zdict: bytes | None) -> tuple[bytes, np.ndarray]:
    """docs.bin and doc_offsets as the build writes them (compressed with ``zdict``, or stored as they are)."""
    blob, lengths = module.analyse_chunk([""] * len(records), records, zdict)[3:]
    return blob, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def decode(blob: bytes, offsets: np.ndarray, zdict: bytes | None, docs: list[int]) -> list:
    return records_c.decode(blob, offsets, zdict or b"", zdict is not None, docs, module.MAX_RECORD_BYTES)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)  # any text UTF-8 can hold


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=12), st.booleans())
def test_every_record_the_build_writes_decodes_to_its_passage(passages, compressed) -> None:
    """Control characters, quotes, backslashes, any plane: what json.dumps writes, the decoder reads, to equal tuples."""
    records = [module._record(Passage(*p)) for p in passages]
    zdict = ZDICT if compressed else None
    blob, offsets = store(records, zdict)
    docs = list(range(len(records)))[::-1] + [0]  # any order, repeats allowed
    assert decode(blob, offsets, zdict, docs) == [tuple(json.loads(records[d])) for d in docs]


@pytest.mark.parametrize("text", [
    '[ "a" , "b","c" ]\n', '["\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\", "\\ud83d\\ude00", "\\u0000"]', '["", "", ""]',
])
def test_json_the_build_does_not_write_is_read_as_json_loads_reads_it(text: str) -> None:
    blob, offsets = store([text.encode()], None)
    assert decode(blob, offsets, None, [0]) == [tuple(json.loads(text))]


@pytest.mark.parametrize("raw", [
    b'["\\ud800", "", ""]', b'["\\udc00", "", ""]', b'["a", "b"]', b'["a", "b", "c", "d"]', b'{"a": 1}', b'["a", "b", "c"] x',
    b'["\xff", "", ""]', b'["a\x01", "", ""]', b'["\\x", "", ""]', b'["\\u12", "", ""]', b'["a", "b", 3]', b'', b'["a',
])
def test_what_it_does_not_read_comes_back_as_bytes_for_json_loads(raw: bytes) -> None:
    """Lone surrogates (json.loads keeps them), other shapes, invalid UTF-8 or JSON: the record's bytes, unchanged."""
    for zdict in (None, ZDICT):
        blob, offsets = store([raw], zdict)
        assert decode(blob, offsets, zdict, [0]) == [raw]


def test_broken_stores_raise_naming_the_passage() -> None:
    records = [module._record(Passage(f"p{i}", "t", "some text " * i)) for i in range(4)]
    blob, offsets = store(records, ZDICT)
    with pytest.raises(ValueError, match="passage 2 does not inflate"):  # cut inside passage 2's stream
        decode(blob[: offsets[2] + 3], np.minimum(offsets, offsets[2] + 3), ZDICT, [2])
    with pytest.raises(ValueError, match="passage 1 does not inflate"):
        decode(bytes(len(blob)), offsets, ZDICT, [1])  # zeros: not a deflate stream of the record
    with pytest.raises(ValueError, match="passage 3 has offsets outside docs.bin"):
        decode(blob[:-1], offsets, ZDICT, [3])
    bad = offsets.copy()
    bad[2] = bad[1] - 1
    with pytest.raises(ValueError, match="passage 1 has offsets outside docs.bin"):  # decreasing
        decode(blob, bad, None, [1])
    for doc in (-1, 4):
        with pytest.raises(IndexError, match=f"document number {doc} is outside the index"):
            decode(blob, offsets, ZDICT, [doc])
    with pytest.raises(ValueError, match="doc_offsets must be int64"):
        records_c.decode(blob, b"1234567", ZDICT, True, [0], module.MAX_RECORD_BYTES)
    assert decode(blob, offsets, ZDICT, []) == []


@pytest.mark.parametrize("on_disk", [True, False])
def test_retriever_passages_are_the_same_in_c_and_in_python(shared_data: Path, tmp_path: Path, on_disk: bool) -> None:
    """Every passage of a real corpus, from a compressed index on disk and an in-memory one, decodes to the same
    tuples both ways, equal to the corpus; and a search gives the same hits."""
    passages = list(load_corpus(shared_data / "hotpotqa" / "hotpotqa_train_corpus.json"))[:2000]
    corpus = Corpus(passages, name="hotpot-2000")
    r = BM25Retriever(corpus, cache_dir=tmp_path if on_disk else False, passage_cache=0)
    assert r.compressed is on_disk
    docs = list(range(len(corpus)))
    fast, slow = r._decode(docs), r._decode(docs, use_c=False)
    assert fast == slow
    assert sorted(fast) == sorted((p.id, p.title, p.text) for p in passages)


def test_a_corrupt_passage_is_one_retrieval_error_both_ways(tmp_path: Path) -> None:
    corpus = Corpus([Passage(f"p{i}", "t", f"river town bridge {i}") for i in range(50)], name="small")
    folder = BM25Retriever(corpus, cache_dir=tmp_path).index_dir
    r = BM25Retriever(index_dir=folder, passage_cache=0)
    r._store_bytes = memoryview(bytes(len(r._store_bytes)))  # every stream zeroed
    for use_c in (True, False):
        with pytest.raises(RetrievalError, match="docs.bin does not decode: passage 7 .*build it again"):
            r._decode([7], use_c=use_c)


def test_odd_arguments_are_read_safely() -> None:
    """An item whose ``__index__`` empties the list, offsets not aligned to 8 bytes, numbers beyond int64."""
    blob, offsets = store([b'["a", "b", "c"]'], None)

    class Emptying:
        def __init__(self, docs: list) -> None:
            self.docs = docs

        def __index__(self) -> int:
            self.docs.clear()
            return 0

    docs: list = []
    docs += [Emptying(docs), 0, np.int64(0)]
    assert decode(blob, offsets, None, docs) == [("a", "b", "c")] * 3
    unaligned = memoryview(b"\0" + offsets.tobytes())[1:]
    assert decode(blob, unaligned, None, [0]) == [("a", "b", "c")]
    for doc in (2**70, -(2**70)):
        with pytest.raises(IndexError, match="outside the index"):
            decode(blob, offsets, None, [doc])
    with pytest.raises(TypeError):
        decode(blob, offsets, None, [0.5])


def test_a_stream_without_its_final_block_or_too_long_is_refused_both_ways(tmp_path: Path) -> None:
    import zlib

    record = module._record(Passage("p0", "t", "text"))
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    unfinished = c.compress(record) + c.flush(zlib.Z_SYNC_FLUSH)  # every byte of the record, but no final block
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    huge = c.compress(b" " * (module.MAX_RECORD_BYTES + 1)) + c.flush()
    corpus = Corpus([Passage("p0", "t", "text"), Passage("p1", "t", "more text")], name="two")
    r = BM25Retriever(index_dir=BM25Retriever(corpus, cache_dir=tmp_path).index_dir, passage_cache=0)
    r._zdict = b""
    for stream in (unfinished, huge):
        r._store_bytes, r.doc_offsets = memoryview(stream), np.array([0, len(stream), len(stream)], dtype=np.int64)
        for use_c in (True, False):
            with pytest.raises(RetrievalError, match="passage 0 does not inflate"):
                r._decode([0], use_c=use_c)
    for use_c in (True, False):
        with pytest.raises(IndexError, match="document number -1 is outside the index"):
            r._decode([-1], use_c=use_c)


def test_repeated_documents_are_decoded_once_and_kept_once(tmp_path: Path) -> None:
    corpus = Corpus([Passage(f"p{i}", "t", f"river {i}") for i in range(20)], name="twenty")
    r = BM25Retriever(index_dir=BM25Retriever(corpus, cache_dir=tmp_path).index_dir, passage_cache=3)
    got = r.passages([9, 9, 4, 9, 4])
    assert [p[0] for p in got] == [r._decode([d])[0][0] for d in (9, 9, 4, 9, 4)]
    assert sorted(r._passages) == [4, 9]
    assert r.passages([9, 4, 1]) == [got[0], got[2], r._decode([1])[0]] and len(r._passages) == 3


@settings(max_examples=30, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8))
def test_the_build_compresses_each_record_as_a_new_stream_with_the_dictionary_would(bodies) -> None:
    """The build copies one primed stream per record: the bytes must be those of a stream made afresh for each."""
    import zlib

    records = [module._record(Passage(f"p{i}", "t", b)) for i, b in enumerate(bodies)]
    fresh = []
    for rec in records:
        c = zlib.compressobj(module.COMPRESSION_LEVEL, zlib.DEFLATED, -15, zdict=ZDICT)
        fresh.append(c.compress(rec) + c.flush())
    blob, lengths = module.analyse_chunk([""] * len(records), records, ZDICT)[3:]
    assert blob == b"".join(fresh) and list(lengths) == [len(f) for f in fresh]

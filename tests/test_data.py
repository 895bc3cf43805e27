"""Every loader on every real file of ../shared/data, format detection, bad input, the registry, corpora, hashes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jade_env.data import (
    DATASETS,
    Corpus,
    detect_format,
    external_corpus,
    load_corpus,
    load_examples,
    per_question_corpus,
    pooled_corpus,
    split_hash,
)
from jade_env.errors import DataFormatError, DatasetUnavailableError

# file: (count, format, first id, first question prefix, first answer, first supporting titles)
REAL_FILES = {
    "hotpotqa/hotpot_dev_distractor_v1_100.json": (103, "hotpotqa", "5a8b57f25542995d1e6f1371",
                                                   "Were Scott Derrickson and Ed Wood", "yes", ("Scott Derrickson", "Ed Wood")),
    "hotpotqa/hotpotqa_train.json": (100, "hotpotqa", "5a77ec115542992a6e59dff7", "If Gallu is a demon", "a spirit", None),
    "2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl": (100, "flashrag", "dev_0", "Who is the mother of the director",
                                                           "Małgorzata Braunek", ("Polish-Russian War (film)", "Xawery Żuławski")),
    "musique/musique_dev_first100.jsonl": (100, "flashrag", "dev_0", "Who is the spouse of the Green performer?", "Miquette Giraudy",
                                           ("Green (Steve Hillage album)", "Miquette Giraudy")),
    "musique/musique_train.json": (100, "musique", "2hop__150763_14904", "Who was the first president", "G. Stanley Hall", None),
    "bamboogle/bamboogle.jsonl": (125, "simple", "1", "Who was president of the United States in the year", "james madison", ()),
    "nq/NQ-open.dev.jsonl": (3610, "nq_open", "NQ-open.dev-0", "when was the last time anyone was on the moon",
                             "14 December 1972 UTC", ()),
    "nq/NQ-open.efficientqa.dev.1.1.jsonl": (1800, "nq_open", "NQ-open.efficientqa.dev.1.1-0", "the last time la dodgers",
                                             "1988", ()),
    "nq/test.jsonl": (17, "flashrag", "test_0", "who got the first nobel prize in physics", "Wilhelm Conrad Röntgen", ()),
    "multi_deepresearcher/dev.jsonl": (875, "flashrag", "tq_qg_3477", "Lasting from 1299 to 1922", "türkiye", ()),
    "multi_deepresearcher/dev.parquet": (875, "verl", "tq_qg_3477", "Lasting from 1299 to 1922", "türkiye", ()),
}


@pytest.mark.parametrize("rel", sorted(REAL_FILES))
def test_every_real_file_loads_through_load_examples(shared_data: Path, rel: str) -> None:
    count, fmt, first_id, prefix, answer, supporting = REAL_FILES[rel]
    path = shared_data / rel
    examples = load_examples(path)
    assert len(examples) == count
    assert len({e.id for e in examples}) == count
    first = examples[0]
    assert (first.id, first.answers[0]) == (first_id, answer)
    assert first.question.startswith(prefix)
    if supporting is not None:
        assert first.supporting_titles == supporting
    assert all(e.answers and all(isinstance(a, str) for a in e.answers) for e in examples)
    # the explicit override gives the same result as detection
    assert load_examples(path, format=fmt) == examples


@pytest.mark.parametrize("rel", sorted(REAL_FILES))
def test_answers_only_reads_the_same_ids_questions_and_answers(shared_data: Path, rel: str) -> None:
    """What `jade-rag score` reads (load_file(answers_only=True)): every id, question and answer of the full load, in
    order, and nothing else (no paragraphs, supporting titles or decompositions)."""
    from jade_env.data.loaders import load_file

    full, lean = load_examples(shared_data / rel), load_file(shared_data / rel, answers_only=True)
    assert [(e.id, e.question, e.answers, e.dataset) for e in lean] == [(e.id, e.question, e.answers, e.dataset) for e in full]
    assert not any(e.context or e.supporting_titles or e.decomposition for e in lean)


def test_details_of_real_records(shared_data: Path) -> None:
    hp = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")
    assert len(hp[0].context) == 10 and hp[0].type == "comparison"
    ed_wood = next(p for p in hp[0].context if p.title == "Ed Wood")
    assert ed_wood.text.startswith("Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978)")
    mu = load_examples(shared_data / "musique" / "musique_train.json")
    assert mu[0].answers == ("G. Stanley Hall", "Stanley Hall")
    assert [s.question for s in mu[0].decomposition] == ["What company published Journal of Psychotherapy Integration?",
                                                          "Who was the first president of #1 ?"]
    assert len(mu[0].context) == 20
    md = load_examples(shared_data / "musique" / "musique_dev_first100.jsonl")
    assert md[0].decomposition[0].answer == "Steve Hillage" and len(md[0].context) == 2
    tq = load_examples(shared_data / "multi_deepresearcher" / "dev.parquet", data_source="popqa")
    assert len(tq) == 125 and tq[0].dataset == "popqa"
    counts = {src: len(load_examples(shared_data / "multi_deepresearcher" / "dev.jsonl", data_source=src))
              for src in ("nq", "tq", "popqa", "hotpotqa", "2wiki", "musique", "Bamboogle")}
    assert set(counts.values()) == {125}


def test_train_with_corpus_pair(shared_data: Path) -> None:
    d = shared_data / "hotpotqa"
    examples = load_examples(d / "hotpotqa_train.json", corpus_path=d / "hotpotqa_train_corpus.json")
    corpus = load_corpus(d / "hotpotqa_train_corpus.json")
    titles = {p.title for p in corpus}
    assert len(corpus) == 994
    assert all({p.title for p in e.context} <= titles for e in examples)
    mu = load_corpus(shared_data / "musique" / "musique_train_corpus.json")
    assert len(mu) == 1890


def test_same_data_in_two_formats_has_the_same_split_hash(shared_data: Path, tmp_path: Path) -> None:
    records = json.loads((shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json").read_text())
    flash = tmp_path / "flash.jsonl"
    with flash.open("w") as f:
        for r in records:
            f.write(json.dumps({"id": r["_id"], "question": r["question"], "golden_answers": [r["answer"]],
                                "metadata": {"type": r["type"], "context": {"title": [c[0] for c in r["context"]],
                                                                            "content": [c[1] for c in r["context"]]},
                                             "supporting_facts": {"title": [s[0] for s in r["supporting_facts"]],
                                                                  "sent_id": [s[1] for s in r["supporting_facts"]]}}}) + "\n")
    a = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")
    b = load_examples(flash)
    assert split_hash(a) == split_hash(b)
    assert [e.context for e in a] == [e.context for e in b]  # passage ids are content hashes
    assert pooled_corpus(a).hash == pooled_corpus(b).hash
    assert split_hash(a[1:]) != split_hash(a) and split_hash(list(reversed(a))) != split_hash(a)


def test_held_out_variants_load_the_same_way(shared_data: Path, tmp_path: Path) -> None:
    """Re-serialised records (JSON list <-> JSONL, keys reordered, extra fields) and the unseen tail of a file."""
    src = shared_data / "musique" / "musique_train.json"
    records = json.loads(src.read_text())
    tail = tmp_path / "musique_tail.jsonl"
    tail.write_text("".join(json.dumps({"extra": 1, **dict(reversed(list(r.items())))}) + "\n" for r in records[60:]))
    assert [e.id for e in load_examples(tail)] == [r["id"] for r in records[60:]]
    nq = [json.loads(line) for line in (shared_data / "nq" / "NQ-open.dev.jsonl").read_text().splitlines()[-50:]]
    nq_list = tmp_path / "nq_tail.json"
    nq_list.write_text(json.dumps(nq))
    loaded = load_examples(nq_list)
    assert len(loaded) == 50 and loaded[0].answers == tuple(dict.fromkeys(nq[0]["answer"]))


def test_format_detection() -> None:
    assert detect_format({"_id": "1", "context": [], "answer": "x"}) == "hotpotqa"
    assert detect_format({"_id": "1", "context": [], "answer": "x", "evidences": []}) == "2wiki"
    assert detect_format({"id": "1", "question": "q", "golden_answers": ["a"]}) == "flashrag"
    assert detect_format({"id": "1", "paragraphs": [], "question_decomposition": []}) == "musique"
    assert detect_format({"question": "q", "answer": ["a"]}) == "nq_open"
    assert detect_format({"idx": 1, "question": "q", "answer": "a"}) == "simple"
    assert detect_format({"prompt": [], "reward_model": {}}) == "verl"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"_id": "a", "question": "q", "answer": "x", "context": []}', "invalid JSON"),
        ('{"id": "a", "question": "q"}\n', "cannot tell the format"),
        ('{"id": "a", "question": "q", "golden_answers": []}\n', "empty list"),
        ('{"id": "a", "question": "q", "golden_answers": ["x"]}\n{"id": "a", "question": "q2", "golden_answers": ["y"]}\n',
         "duplicate id 'a'"),
        ('{"id": "a", "golden_answers": ["x"]}\n', '"question" is missing'),
        ("", "the file is empty"),
        ('"just a string"', "expected a JSON list of objects, JSON lines"),
    ],
)
def test_bad_files_raise_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataFormatError) as err:
        load_examples(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_non_utf8_byte_names_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "a", "question": "q", "golden_answers": ["x"]}\n{"id": "b", "question": "\xff"}\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: byte 79 \(0xff\) is not valid UTF-8"):
        load_examples(path)


def test_skip_policy_counts_and_keeps_the_first_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "a", "question": "q1", "golden_answers": ["x"]}\n'
                    '{"id": "b", "question": "q2", "golden_answers": []}\n'
                    '{"id": "a", "question": "q3", "golden_answers": ["y"]}\n'
                    '{"id": "c", "question": "q4", "golden_answers": ["z"]}\n')
    with pytest.warns(UserWarning, match="skipped 2 bad record"):
        examples = load_examples(path, on_error="skip")
    assert [(e.id, e.question) for e in examples] == [("a", "q1"), ("c", "q4")]
    with pytest.raises(DataFormatError, match=":2 \\(id 'b'\\)"):
        load_examples(path)


def test_registry_offline_error_names_dataset_hub_and_path(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("JADE_DATA_DIR", raising=False)
    with pytest.raises(DatasetUnavailableError) as err:
        load_examples("hotpotqa")
    text = str(err.value)
    assert "'hotpotqa'" in text and "hotpotqa/hotpot_qa" in text and "$JADE_DATA_DIR/hotpotqa/dev.json" in text
    with pytest.raises(DatasetUnavailableError, match="neither a file nor a known dataset"):
        load_examples("no-such-dataset")
    assert set(DATASETS) >= {"hotpotqa", "2wikimultihopqa", "musique", "bamboogle", "nq", "popqa", "ambigqa", "triviaqa", "synthetic"}


def test_jade_data_dir_layout(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "nq").mkdir()
    (tmp_path / "nq" / "test.jsonl").write_text((shared_data / "nq" / "test.jsonl").read_text())
    monkeypatch.setenv("JADE_DATA_DIR", str(tmp_path))
    examples = load_examples("NQ")
    assert len(examples) == 17 and examples[0].dataset == "nq"
    assert len(load_examples("nq", n=5)) == 5
    sample = load_examples("nq", n=5, seed=1)
    assert len(sample) == 5 and sample == load_examples("nq", n=5, seed=1) and sample != examples[:5]


def test_corpus_modes(shared_data: Path, tmp_path: Path) -> None:
    examples = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")
    pooled = pooled_corpus(examples)
    all_paragraphs = [p for e in examples for p in e.context]
    assert len(pooled) == len({(p.title, p.text) for p in all_paragraphs}) < len(all_paragraphs)
    assert list(pooled)[0] == examples[0].context[0]
    pq = per_question_corpus(examples[3])
    assert len(pq) == 10 and pq.hash == Corpus(examples[3].context).hash
    jsonl = tmp_path / "corpus.jsonl"
    with jsonl.open("w") as f:
        for p in pooled:
            f.write(json.dumps({"id": p.id, "contents": f"{p.title}\n{p.text}"}) + "\n")
    ext = external_corpus(jsonl)
    assert len(ext) == len(pooled) and ext.hash == pooled.hash  # same passages, same hash, streamed
    with pytest.raises(DataFormatError, match="no context paragraphs"):
        pooled_corpus(load_examples(shared_data / "nq" / "test.jsonl"))
    assert Corpus([], name="x").hash == Corpus([], name="y").hash


def test_pooled_corpus_of_all_multihop_files_and_data_info(shared_data: Path, capsys) -> None:
    from jade_env.cli import main

    files = ["hotpotqa/hotpot_dev_distractor_v1_100.json", "hotpotqa/hotpotqa_train.json",
             "2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl", "musique/musique_dev_first100.jsonl", "musique/musique_train.json"]
    examples = [e for f in files for e in load_examples(shared_data / f)]
    corpus = pooled_corpus(examples)
    args = ["data", "info", "multihop", "--json"]
    for f in files:
        args += ["--path", str(shared_data / f)]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["questions"] == 503 and info["corpus"]["hash"] == corpus.hash and info["corpus"]["passages"] == len(corpus)


def test_synthetic_through_load_examples_is_fast_and_deterministic() -> None:
    started = time.process_time()
    a = load_examples("synthetic", n=10_000, seed=7)
    elapsed = time.process_time() - started
    assert len(a) == 10_000 and elapsed < 10.0
    from jade_env.data.synthetic import generate_world

    b = generate_world(10_000, seed=7).examples
    assert [(e.id, e.question, e.answers) for e in a] == [(e.id, e.question, e.answers) for e in b]


TWOWIKI = "2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl"


def _first_records(shared_data: Path, n: int) -> list[dict]:
    with (shared_data / TWOWIKI).open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


def _same(a, b) -> None:
    assert [(e.id, e.question, e.answers, e.context) for e in a] == [(e.id, e.question, e.answers, e.context) for e in b]


def test_pretty_printed_json_in_three_shapes(shared_data: Path, tmp_path: Path) -> None:
    records = _first_records(shared_data, 3)
    expected = load_examples(shared_data / TWOWIKI, n=3)
    for name, value in [("list.json", records), ("wrapped.json", {"version": 1, "data": records})]:
        path = tmp_path / name
        path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
        _same(load_examples(path, dataset="2wikimultihopqa"), expected)
    one = tmp_path / "one.json"
    one.write_text(json.dumps(records[0], indent=4, ensure_ascii=False), encoding="utf-8")
    _same(load_examples(one, dataset="2wikimultihopqa"), expected[:1])
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"data": records, "rows": records}, indent=2), encoding="utf-8")
    with pytest.raises(DataFormatError, match="several lists of records"):
        load_examples(two)


def test_a_datasets_dataset_is_accepted_for_questions(shared_data: Path) -> None:
    datasets = pytest.importorskip("datasets")
    import gymnasium as gym

    import jade_env  # noqa: F401

    records = _first_records(shared_data, 20)
    ds = datasets.Dataset.from_list(records)
    expected = load_examples(shared_data / TWOWIKI, n=20)
    _same(load_examples(ds, dataset="2wikimultihopqa"), expected)
    _same(load_examples(ds.to_iterable_dataset(), dataset="2wikimultihopqa"), expected)
    env = gym.make("JadeRAG-2Wiki-v0", data_path=ds)
    _same(env.unwrapped.examples, expected)
    obs, info = env.reset(seed=0)
    assert obs["question"] in {e.question for e in expected}
    env.close()
    with pytest.raises(DataFormatError, match="expected a path to a JSON list of objects"):
        load_examples({"question": "a dict is not a list of records"})


def test_sentences_are_joined_with_a_space_where_the_source_has_none(shared_data: Path) -> None:
    example = load_examples(shared_data / TWOWIKI, n=1)[0]
    maheen = next(p for p in example.context if p.title == "Maheen Khan")
    assert "fashion events and shows. She undertook embroidery" in maheen.text  # 2Wiki: sentences without their spaces
    hotpot = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json", n=1)[0]
    raw = json.loads((shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json").read_text())[0]
    title, sentences = raw["context"][0]
    assert next(p for p in hotpot.context if p.title == title).text == "".join(sentences)  # HotpotQA carries its own spaces


def test_parquet_and_dataset_corpora_retrieve_as_the_jsonl_one(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    import pyarrow as pa

    from jade_env.data import external_corpus
    from jade_env.data.synthetic import synthetic_corpus
    from jade_env.retrieval.factory import make_retriever

    rows = [{"id": p.id, "contents": f"{p.title}\n{p.text}"} for p in synthetic_corpus(n=200, seed=3)]
    jsonl, parquet = tmp_path / "c.jsonl", tmp_path / "c.parquet"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=50)
    corpora = [external_corpus(jsonl), external_corpus(parquet), external_corpus(datasets.Dataset.from_list(rows))]
    assert len({c.hash for c in corpora}) == 1 and [len(c) for c in corpora] == [len(rows)] * 3
    queries = [rows[7]["contents"].split("\n")[1][:60], "capital of the river city"]
    hits = [make_retriever("bm25", c, cache_dir=False).search(queries, k=5) for c in corpora]
    assert hits[0] == hits[1] == hits[2] and hits[0][0][0].id == rows[7]["id"]
    no_ids = [{"title": r["contents"].split("\n")[0], "text": r["contents"].split("\n")[1]} for r in rows[:3]]
    with pytest.warns(UserWarning, match="3 passage\\(s\\) have no id"):
        passages = list(external_corpus(no_ids))
    assert all(p.id.startswith("p") and len(p.id) == 17 for p in passages)


def test_an_unreachable_hub_fails_at_once_without_retries(monkeypatch) -> None:
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    monkeypatch.delenv("JADE_DATA_DIR", raising=False)
    started = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="the hub is unreachable from here: 127.0.0.1:9"):
        load_examples("popqa")
    assert time.perf_counter() - started < 3.0

"""Question loaders (issue 15): one DataFormatError naming file, line and field for wrong content; streaming JSONL
(memory measured); a BOM; lone surrogates that never crash evaluate or RecordTrajectories."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

from jade_env.data import load_examples
from jade_env.errors import DataFormatError
from jade_env.predictions import read_predictions

REPO = Path(__file__).resolve().parents[1]
MUSIQUE = {"id": "m1", "paragraphs": [{"idx": 0, "title": "T", "paragraph_text": "T is x.", "is_supporting": True}],
           "question_decomposition": [{"question": "q?", "answer": "x", "paragraph_support_idx": 0}], "question": "What is T?",
           "answer": "x", "answer_aliases": ["ex"], "answerable": True}
HOTPOT = {"_id": "h1", "question": "What is T?", "answer": "x", "type": "bridge", "supporting_facts": [["T", 0]],
          "context": [["T", ["T is ", "x."]]]}
FLASHRAG = {"id": "f1", "question": "What is T?", "golden_answers": ["x"], "metadata": {"context": {"title": ["T"], "content": [["T is x."]]}}}
VERL = {"prompt": [{"role": "user", "content": "What is T?"}], "reward_model": {"ground_truth": "x"}, "extra_info": {"index": 3}}
SIMPLE = {"idx": 1, "question": "What is T?", "answer": "x"}

# (case, a valid record, the change, the field the message must name)
BAD = [
    ("string answer_aliases", MUSIQUE, {"answer_aliases": "xyz"}, '"answer_aliases" is str'),
    ("dict id (flashrag)", FLASHRAG, {"id": {"a": 1}}, '"id" is dict'),
    ("dict id (musique)", MUSIQUE, {"id": {"a": 1}}, '"id" is dict'),
    ("list idx (simple)", SIMPLE, {"idx": [1]}, '"idx" is list'),
    ("dict extra_info.index", VERL, {"extra_info": {"index": {"i": 3}}}, '"extra_info.index" is dict'),
    ("null sentences", HOTPOT, {"context": [["T", None]]}, '"context[0][1]" is missing or null'),
    ("non-string sentence", HOTPOT, {"context": [["T", ["T is ", 3]]]}, '"context[0][1][1]" is int'),
    ("null content (flashrag)", FLASHRAG, {"metadata": {"context": {"title": ["T"], "content": [None]}}}, '"metadata.context[0][1]"'),
    ("titles and contents differ", FLASHRAG, {"metadata": {"context": {"title": ["T", "U"], "content": [["a"]]}}}, "2 titles and 1 content"),
    ("empty answer", FLASHRAG, {"golden_answers": [""]}, '"golden_answers[0]" is an empty string'),
    ("blank answer", HOTPOT, {"answer": "   "}, '"answer[0]" is an empty string'),
    ("no answers", FLASHRAG, {"golden_answers": []}, '"golden_answers" is missing or an empty list'),
    ("string golden_answers", FLASHRAG, {"golden_answers": "xyz"}, '"golden_answers" is str'),
    ("null answer in a list", FLASHRAG, {"golden_answers": ["x", None]}, '"golden_answers[1]" is missing or null'),
    ("NaN answer", FLASHRAG, {"golden_answers": [float("nan")]}, '"golden_answers[0]" is float'),
    ("non-dict paragraph", MUSIQUE, {"paragraphs": ["T is x."]}, '"paragraphs[0]" is str'),
    ("null paragraph title", MUSIQUE, {"paragraphs": [{"idx": 0, "title": 5, "paragraph_text": "a"}]}, '"paragraphs[0].title" is int'),
    ("non-dict decomposition step", MUSIQUE, {"question_decomposition": ["q"]}, '"question_decomposition[0]" is str'),
    ("string paragraph_support_idx", MUSIQUE, {"question_decomposition": [{"question": "q", "answer": "x", "paragraph_support_idx": "0"}]},
     '"question_decomposition[0].paragraph_support_idx" is str'),
    ("string reward_model", VERL, {"reward_model": "x"}, '"reward_model" is str'),
    ("non-dict prompt message", VERL, {"prompt": ["What is T?"]}, '"prompt[0]" is str'),
    ("non-dict metadata", FLASHRAG, {"metadata": "m"}, '"metadata" is str'),
    ("non-string type", HOTPOT, {"type": {"t": 1}}, '"type" is dict'),
    ("non-string data_source", FLASHRAG, {"data_source": 7}, '"data_source" is int'),
    ("string supporting_facts", HOTPOT, {"supporting_facts": "T"}, '"supporting_facts" is str'),
    ("non-string question", FLASHRAG, {"question": ["What?"]}, '"question" is list'),
]


@pytest.mark.parametrize(("case", "record", "change", "field"), BAD, ids=[b[0] for b in BAD])
def test_wrong_content_is_one_error_naming_file_line_and_field(tmp_path: Path, case: str, record: dict, change: dict, field: str) -> None:
    path = tmp_path / "questions.jsonl"
    good = dict(record, **({"id": "g0"} if "id" in record else {"_id": "g0"} if "_id" in record else {}))
    if "extra_info" in good:
        good = dict(good, extra_info={"index": 0})
    path.write_text(json.dumps(good) + "\n" + json.dumps({**record, **change}) + "\n")
    with pytest.raises(DataFormatError) as err:
        load_examples(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2") and field in message and "\n" not in message, message
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        assert len(load_examples(path, on_error="skip")) == 1  # the good record is kept


@pytest.mark.parametrize("record", [MUSIQUE, HOTPOT, FLASHRAG, VERL, SIMPLE], ids=["musique", "hotpotqa", "flashrag", "verl", "simple"])
def test_the_valid_records_load_and_json_lists_say_which_record(tmp_path: Path, record: dict) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (example,) = load_examples(path)
    assert example.question == "What is T?" and example.answers[0] == "x"
    listed = tmp_path / "questions.json"
    listed.write_text(json.dumps([record, {**record, "question": 5}]))
    with pytest.raises(DataFormatError, match=rf"{listed}: record 1\b.*\"question\" is int"):
        load_examples(listed)


def test_integer_ids_are_text_and_null_optional_fields_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({**FLASHRAG, "id": 17, "data_source": None, "metadata": None}) + "\n")
    (example,) = load_examples(path)
    assert example.id == "17" and example.dataset == "" and example.context == ()
    path.write_text(json.dumps({**MUSIQUE, "answer_aliases": None, "paragraphs": [{"idx": 0, "title": None, "paragraph_text": "a"}]}) + "\n")
    (example,) = load_examples(path)
    assert example.answers == ("x",) and example.context[0].title == ""  # null is "", never "None"


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_utf8_bom_is_accepted(tmp_path: Path, suffix: str) -> None:
    plain, bom = tmp_path / f"plain{suffix}", tmp_path / f"bom{suffix}"
    data = (json.dumps([HOTPOT]) if suffix == ".json" else json.dumps(FLASHRAG) + "\n").encode()
    plain.write_bytes(data)
    bom.write_bytes(b"\xef\xbb\xbf" + data)
    assert load_examples(bom) == load_examples(plain)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"\xef\xbb\xbf" + data[:30] + b"\xff" + data[30:])
    with pytest.raises(DataFormatError, match=r":1: byte 33 \(0xff\) is not valid UTF-8"):  # offsets count the BOM
        load_examples(bad)


def test_predictions_with_a_bom_and_unreadable_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "prediction": "x"}\n')
    assert read_predictions(path)["a"].prediction == "x"
    path.write_text('{"id": "a", "prediction": "x", "tokens": ' + "9" * 5000 + "}\n")
    with pytest.raises(DataFormatError, match=r"p.jsonl:1: unreadable JSON \(ValueError"):  # a bad line, named
        read_predictions(path)
    path.write_text('{"id": "a", "prediction": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(DataFormatError, match=r"p.jsonl:1: unreadable JSON \(RecursionError"):
        read_predictions(path)


PEAK_RSS = textwrap.dedent("""
    import sys
    from jade_env.data import loaders
    from jade_env.errors import DataFormatError
    def peak_kib():  # VmHWM: the peak RSS of this process image (ru_maxrss would include the parent's, inherited across exec)
        return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
    loaders.MAX_LINE_BYTES = int(sys.argv[2])
    before = peak_kib()
    try:
        loaders.load_file(sys.argv[1])
        print("loaded")
    except DataFormatError as err:
        print(str(err).replace(sys.argv[1], "FILE"))
    print((peak_kib() - before) // 1024)
""")


@pytest.mark.parametrize("shape", ["a corpus given as questions", "one line without a newline", "a bad line at the end"])
def test_a_large_jsonl_file_is_read_a_line_at_a_time(tmp_path: Path, shape: str) -> None:
    """256 MiB of JSONL costs a few MiB of memory before its error (it cost twice the file size when read whole)."""
    path = tmp_path / "big.jsonl"
    size = 256 << 20
    with path.open("wb") as f:
        if shape == "one line without a newline":
            f.write(b'{"id": "a", "question": "' + b"x" * size)
        else:
            line = (json.dumps({"id": "p", "contents": "Title\n" + "word " * 200}) if shape.startswith("a corpus")
                    else " " * 1000) + "\n"
            f.write(line.encode() * (size // len(line)))
            f.write(b"{not json}\n")
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(8 << 20)], cwd=REPO, capture_output=True, text=True, timeout=300)
    message, grown = out.stdout.splitlines()
    expected = {"a corpus given as questions": "cannot tell the format", "one line without a newline": "longer than 8 MiB",
                "a bad line at the end": "invalid JSON"}[shape]
    assert expected in message, out.stdout + out.stderr
    assert int(grown) < 40, f"peak RSS grew by {grown} MiB while reading a {size >> 20} MiB file"


def test_a_lone_surrogate_in_a_question_is_escaped_and_evaluate_writes_its_metrics(tmp_path: Path) -> None:
    from baselines.evaluate import evaluate

    path = tmp_path / "q.jsonl"
    records = [{**FLASHRAG, "id": f"q{i}", "question": f"What is T\\ud800 {i}?" if i == 1 else f"What is T {i}?"} for i in range(4)]
    path.write_text("\n".join(json.dumps(r).replace("\\\\ud800", "\\ud800") for r in records) + "\n")
    assert "\\ud800" in path.read_text()  # the file holds the escape of a lone surrogate
    examples = load_examples(path)
    assert examples[1].question == "What is T\\ud800 1?"  # kept as visible text, which UTF-8 can encode
    metrics = evaluate("JadeRAG-HotpotQA-v0", "vanilla-rag", tmp_path / "run", env_kwargs={"data_path": str(path)}, progress=False)
    assert metrics["n"] == 4 and (tmp_path / "run" / "metrics.json").exists()


def test_record_trajectories_writes_an_action_holding_a_lone_surrogate(tmp_path: Path) -> None:
    from jade_env.wrappers import RecordTrajectories, read_trajectories, replay

    path = tmp_path / "t.jsonl"
    env = RecordTrajectories(gym.make("JadeRAG-Synthetic-v0", n=20, synthetic={"seed": 0}), path)
    obs, _ = env.reset(seed=0, options={"index": 0})
    actions = []
    done = False
    while not done:
        action = "<workflow>AG</workflow>" if obs["role"] == "planner" else "<answer>x\udfff</answer>"
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    env.close()
    (record,) = read_trajectories(path)
    assert record["actions"] == actions and record["prediction"] == info["prediction"]
    assert replay(record)["prediction"] == info["prediction"]  # the escaped action replays to the same episode


def test_hub_rows_pass_the_same_field_checks(monkeypatch) -> None:
    """The hub path (online only) maps rows to a loader format and parses them with that format's checks."""
    datasets = pytest.importorskip("datasets", reason="the hf extra is not installed")
    from jade_env.data.registry import DATASETS, _from_hub

    rows = {"nq": [{"question": "when?", "answer": ["1972", 1972]}, {"question": "who?", "answer": [None]}],
            "triviaqa": [{"question": "what?", "answer": {"aliases": [], "value": "x"}, "id": {"a": 1}}]}
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config, split: rows[next(k for k in rows if DATASETS[k].hub_id == hub_id)])
    with pytest.raises(DataFormatError, match=r"nq_open \(default\), split dev, row 1: \"golden_answers\[0\]\" is missing"):
        _from_hub(DATASETS["nq"], "dev")
    rows["nq"].pop()
    (example,) = _from_hub(DATASETS["nq"], "dev")
    assert (example.id, example.answers, example.dataset) == ("nq-dev-0", ("1972",), "nq")
    with pytest.raises(DataFormatError, match=r"row 0: \"id\" is dict"):
        _from_hub(DATASETS["triviaqa"], "dev")


def test_json_lists_with_surrogate_pairs_skip_the_escape_walk_but_lone_surrogates_are_always_found(tmp_path: Path) -> None:
    """The whole-file test of a JSON list never misses a lone surrogate (random texts of escapes, pairs, backslashes),
    and a file holding only valid pairs (characters beyond U+FFFF, as HotpotQA's) loads them as they are."""
    import random
    import re

    from jade_env.data.loaders import _may_hold_surrogates

    lone = re.compile("[\ud800-\udfff]")
    rng = random.Random(0)
    pieces = ["a", "\\", "u", "d8", '"', "\\u", "\\ud800", "\U0001F600", "\ud800", "\udc00", "\udbff", "\udfff", "é"]
    lone_cases = skipped = 0
    for _ in range(20_000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        raw = json.dumps([s, {"k": s}], ensure_ascii=rng.random() < 0.8)
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:  # not a possible UTF-8 file
            continue
        if lone.search(json.loads(raw)[0]):
            lone_cases += 1
            assert _may_hold_surrogates(raw), raw
        elif not _may_hold_surrogates(raw):
            skipped += 1
    assert lone_cases > 1000 and skipped > 1000
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{**HOTPOT, "question": "What is \U0001F600 T?"}]))  # ensure_ascii: an escaped pair
    assert "\\ud83d\\ude00" in path.read_text() and not _may_hold_surrogates(path.read_text())
    assert load_examples(path)[0].question == "What is \U0001F600 T?"
    path.write_text(json.dumps([{**HOTPOT, "question": "What is T?"}]).replace("T?", "T\\ud83d?"))  # a lone high surrogate
    assert load_examples(path)[0].question == "What is T\\ud83d?"


def test_corpus_files_of_title_and_text_rows_are_rows_and_bad_bytes_are_named(tmp_path: Path) -> None:
    """``{"id", "title", "text"}`` JSONL is rows for the CLI's corpus reader too (a one-line file was read as a
    ``title -> sentences`` object: passages titled "id", "title" and "text"), and non-UTF-8 bytes, a lone surrogate or
    JSON nested too deeply are one DataFormatError naming the file and line."""
    from jade_env.data.corpora import external_corpus, load_corpus
    from jade_env.retrieval.factory import open_corpus

    rows = [{"id": "a", "title": "Paris", "text": "x"}, {"id": "b", "title": "Berlin", "text": "y"}]
    for n in (1, 2):
        path = tmp_path / f"rows{n}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[:n]))
        for read in (open_corpus, load_corpus):
            assert [(p.id, p.title, p.text) for p in read(str(path))] == [tuple(r.values()) for r in rows[:n]]
    bad = {"non-UTF-8": (b'{"id": "b", "contents": "B\\n\xff"}\n', "byte 28 of the line is not valid UTF-8"),
           "surrogate": (b'{"id": "b", "contents": "B\\ud800y"}\n', "the text holds a lone surrogate \\(U\\+D800\\)"),
           "deep": (b'{"id": "b", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "the JSON is nested too deeply")}
    for name, (line, message) in bad.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b'{"id": "a", "contents": "A\\nx"}\n' + line)
        with pytest.raises(DataFormatError, match=f"{path}:2: {message}"):
            list(external_corpus(path))
        with pytest.raises(DataFormatError, match=f"{path}:2: {message}"):
            list(open_corpus(str(path)))

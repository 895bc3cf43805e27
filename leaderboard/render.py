"""Render the leaderboard: one static HTML page (no server, no external assets) and a Markdown table.

The page has one section per track: its pinned settings and the command that makes a submission for it, a
table sortable by every column (click a header; click again to reverse) that shows every submitted field
(the method linked to its code when the link is http(s); the rest under "details"), scores in percent, and an
F1-versus-cost chart (retrieval calls per question) drawn as inline SVG, each point labelled with its method and
the Pareto front (no other submission has both a higher F1 and fewer calls) drawn as a line and marked in the
table. A paradigm filter hides the rows and points of other paradigms. The Markdown has the same sections.

Every submitted text loses its control characters (:func:`printable`) and is escaped with :func:`html.escape`
before it enters the page, and the script only reads ``data-`` attributes and ``textContent``, so a method name
such as ``<script>alert(1)</script>`` shows as text and runs nothing; the code link is a link only when it is an
http(s) URL. In the Markdown table, a text is one line with its Markdown and HTML
escaped (:func:`markdown_cell`), so a newline or a pipe in a name cannot add rows or cells. The submission
validator already refuses such texts; rendering does not rely on it, since a database may hold older rows.
Both files are replaced atomically.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

from jade_env.run_folder import atomic_write
from leaderboard.tracks import TRACKS

_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029]+")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")  # what can start emphasis, code, a link or a cell inside a table cell

COLUMNS = [("method", "method", "text"), ("paradigm", "paradigm", "text"), ("model", "model", "text"),
           ("parameters", "parameters", "num"), ("em", "EM (%)", "num"), ("f1", "F1 (%)", "num"), ("sub_em", "sub_em (%)", "num"),
           ("rounds", "rounds", "num"), ("retrieval_calls", "retrieval calls", "num"), ("tokens", "tokens", "num"),
           ("n_missing", "missing", "num"), ("pareto", "Pareto", "num"), ("details", "details", "text")]
DETAILS = [("training_data", "training data"), ("seed", "seed"), ("contact", "contact"), ("submitted", "submitted"),
           ("command", "command"), ("code_link", "code")]

SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.dataset.kind === "num";
      var descending = th.dataset.order !== "desc";
      table.querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = descending ? "desc" : "asc";
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
        return descending ? -c : c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
document.getElementById("paradigm").addEventListener("change", function (event) {
  var wanted = event.target.value;
  document.querySelectorAll("[data-paradigm]").forEach(function (el) {
    el.style.display = (wanted === "all" || el.dataset.paradigm === wanted) ? "" : "none";
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th { cursor: pointer; background: #f4f4f4; user-select: none; }
th[data-order="desc"]::after { content: " \\25BC"; } th[data-order="asc"]::after { content: " \\25B2"; }
td.text, th.text { text-align: left; }
.track { margin-bottom: 2.5rem; } .meta { color: #555; font-size: 0.9rem; }
td.details { max-width: 28rem; font-size: 0.85rem; } td.details dt { font-weight: 600; } td.details dd { margin: 0 0 0.3rem 0.5rem; }
td.details code, p.meta code { word-break: break-all; }
.chart text.label { fill: #333; } .chart .front { stroke: #d9480f; stroke-width: 1.5; fill: none; stroke-dasharray: 4 3; }
"""


LABEL_ROOM = 140  # pixels right of the last point of the chart, for its label
SCORE_COLUMNS = frozenset({"em", "f1", "sub_em"})


def printable(value: object) -> str:
    """``value`` as text without control characters, bidirectional overrides or lone surrogates (tabs and line breaks become spaces)."""
    return _UNPRINTABLE.sub("", _LINE_BREAKS.sub(" ", str(value if value is not None else "")))


def _text(value: object) -> str:
    return html.escape(printable(value))


def markdown_cell(value: object) -> str:
    """``value`` as one Markdown table cell: one line, HTML and Markdown punctuation (the pipe included) escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(printable(value), quote=False))


def _finite(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _number(value: object, key: str) -> tuple[str, str]:
    """(sort value, shown text) of a number, for the page and the Markdown: scores in percent, counts as they are, "–"
    for none or inf/NaN (which the validator refuses, but old rows may hold)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-1", "–"
    if key in SCORE_COLUMNS:
        return str(value), f"{value * 100:.1f}"
    return str(value), str(value) if isinstance(value, int) else f"{value:,.2f}"


def code_link(value: object) -> str | None:
    """The submission's code link when it is an http(s) URL (anything else is shown as text, never as a link)."""
    text = printable(value)
    return text if re.match(r"^https?://[^\s\"'<>]+$", text) else None


def _details(meta: dict) -> str:
    items = "".join(f"<dt>{html.escape(title)}</dt><dd>{'<code>' + _text(meta[key]) + '</code>' if key == 'command' else _text(meta[key])}</dd>"
                    for key, title in DETAILS if meta.get(key) not in (None, ""))
    return f'<td class="text details" data-value=""><details><summary>more</summary><dl>{items}</dl></details></td>'


def _cell(row: dict, key: str, kind: str) -> str:
    meta = row.get("metadata") or {}
    if key == "details":
        return _details(meta)
    if key == "pareto":
        on = row.get("pareto", False)
        return f'<td data-value="{int(on)}">{"&#9733;" if on else ""}</td>'
    if kind == "num":
        sort, shown = _number(meta.get(key) if key == "parameters" else row.get(key), key)
        return f'<td data-value="{html.escape(sort)}">{html.escape(shown)}</td>'
    text = _text(row.get(key))
    link = code_link(meta.get("code_link")) if key == "method" else None
    inner = f'<a href="{html.escape(link)}" rel="nofollow noopener">{text}</a>' if link else text
    return f'<td class="text" data-value="{text}">{inner}</td>'


def pareto_front(rows: Sequence[dict]) -> set[int]:
    """Indices of the rows no other row beats on both F1 (higher) and retrieval calls (fewer), ties counted as not beating;
    a row that reports no retrieval calls is compared on nothing (neither on the front nor beating any row)."""
    points = {i: (_finite(r["f1"]), _finite(r["retrieval_calls"])) for i, r in enumerate(rows) if _reports_calls(r)}
    return {i for i, (f1, calls) in points.items()
            if not any(g >= f1 and c <= calls and (g > f1 or c < calls) for g, c in points.values())}


def _reports_calls(row: dict) -> bool:
    value = row.get("retrieval_calls")
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def chart(rows: Sequence[dict], width: int = 720, height: int = 340) -> str:
    """An SVG scatter of F1 (%) against retrieval calls per question: one labelled point per submission, the Pareto front dashed."""
    pad = 40
    rows = [r for r in rows if _reports_calls(r)]  # a submission without the cost has no place on the cost axis
    xs = [_finite(r["retrieval_calls"]) for r in rows] or [0.0]
    x_max = max(max(xs), 1.0) * 1.1
    parts = [f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="F1 versus retrieval calls">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="#888"/>',
             f'<text x="{width // 2}" y="{height - 8}" text-anchor="middle" font-size="12">retrieval calls per question</text>',
             f'<text x="12" y="{height // 2}" font-size="12" transform="rotate(-90 12 {height // 2})" text-anchor="middle">F1 (%)</text>']
    for tick in range(0, 101, 25):
        y = height - pad - (height - pad - 10) * tick / 100
        parts.append(f'<text x="{pad - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for i in range(5):
        value = x_max * i / 4
        x = pad + (width - pad - LABEL_ROOM) * i / 4
        parts.append(f'<text x="{x:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{value:.1f}</text>')
    def place(r: dict) -> tuple[float, float]:
        return (pad + (width - pad - LABEL_ROOM) * _finite(r["retrieval_calls"]) / x_max, height - pad - (height - pad - 10) * _finite(r["f1"]))

    front = sorted((place(r) for r in rows if r.get("pareto")), key=lambda xy: xy[0])
    if len(front) > 1:
        parts.append('<polyline class="front" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in front) + '"/>')
    parts.append(f'<text x="{pad + 8}" y="{height - 14 - pad - (height - pad - 10) * 0.92:.0f}" font-size="10" fill="#d9480f">'
                 "orange, dashed: the Pareto front (no submission has a higher F1 with fewer calls)</text>")
    placed: list[tuple[float, float, float]] = []  # label boxes (x, y, width) already drawn: close points get stacked labels
    for r in rows:
        if not all(math.isfinite(v) for v in (r["f1"], r["retrieval_calls"] or 0.0) if isinstance(v, int | float)):
            continue  # no point for a number that is not one
        x, y = place(r)
        label_y = y - 6
        name_width = 5.5 * min(len(printable(r["method"])), 24)
        while any(abs(label_y - py) < 11 and x + 7 < px + pw and px < x + 7 + name_width for px, py, pw in placed):
            label_y += 11
        placed.append((x + 7, label_y, name_width))
        title = _text(f"{r['method']} ({r['paradigm']}): F1 {_finite(r['f1']) * 100:.1f}%, {_finite(r['retrieval_calls']):.2f} calls")
        name = printable(r["method"])
        short = _text(name if len(name) <= 24 else name[:23] + "…")
        colour = "#d9480f" if r.get("pareto") else "#3366cc"
        parts.append(f'<g data-paradigm="{_text(r["paradigm"])}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" '
                     f'fill-opacity="0.8"><title>{title}</title></circle>'
                     f'<text class="label" x="{x + 7:.1f}" y="{label_y:.1f}" font-size="10">{short}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(rows: Sequence[dict]) -> str:
    paradigms = sorted({printable(r["paradigm"]) for r in rows})
    options = "".join(f'<option value="{html.escape(p)}">{html.escape(p)}</option>' for p in paradigms)
    sections = []
    for slug, track in TRACKS.items():
        track_rows = track_section_rows(rows, slug)
        if not track_rows:
            continue
        head = "".join(f'<th class="{kind}" data-kind="{kind}">{html.escape(title)}</th>' for _, title, kind in COLUMNS)
        body = "".join(f'<tr data-paradigm="{_text(r["paradigm"])}">' + "".join(_cell(r, key, kind) for key, _, kind in COLUMNS)
                       + "</tr>" for r in track_rows)
        sections.append(f'<section class="track" id="{html.escape(slug)}"><h2>{html.escape(track.title)}</h2>'
                        f'<p class="meta">track <code>{html.escape(slug)}</code>: {html.escape(track.env_id)}, '
                        f'corpus {html.escape(track.corpus)}, top-{track.top_k}, at most {track.max_steps} steps, '
                        f'split hash <code>{html.escape(track.split_hash[:16])}</code>; a submission comes from '
                        f'<code>{html.escape(track.command())}</code></p>'
                        f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{chart(track_rows)}</section>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>jade_env leaderboard</title>"
            f"<style>{STYLE}</style></head><body><h1>jade_env leaderboard</h1>"
            f'<label>paradigm <select id="paradigm"><option value="all">all</option>{options}</select></label>'
            + "".join(sections) + f"<script>{SCRIPT}</script></body></html>")


def track_section_rows(rows: Sequence[dict], slug: str) -> list[dict]:
    """The rows of one track, best F1 first, each with ``"pareto"`` set."""
    track_rows = sorted((dict(r) for r in rows if r["track"] == slug), key=lambda r: -_finite(r["f1"]))
    front = pareto_front(track_rows)
    for i, r in enumerate(track_rows):
        r["pareto"] = i in front
    return track_rows


def render_markdown(rows: Sequence[dict]) -> str:
    out = []
    for slug, track in TRACKS.items():
        track_rows = track_section_rows(rows, slug)
        if not track_rows:
            continue
        out += [f"**{markdown_cell(track.title)}** (`{slug}`; run `{track.command()}`)", "",
                "| method | paradigm | model | parameters | EM (%) | F1 (%) | sub_em (%) | retrieval calls | missing | seed | Pareto |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        for r in track_rows:
            meta = r.get("metadata") or {}
            link = code_link(meta.get("code_link"))
            method = f"[{markdown_cell(r['method'])}](<{link}>)" if link else markdown_cell(r["method"])
            cells = [_number(meta.get("parameters"), "parameters"), _number(r["em"], "em"), _number(r["f1"], "f1"),
                     _number(r["sub_em"], "sub_em"), _number(r["retrieval_calls"], "retrieval_calls"),
                     _number(r["n_missing"], "n_missing"), _number(meta.get("seed"), "seed")]
            out.append(f"| {method} | {markdown_cell(r['paradigm'])} | {markdown_cell(r['model'])} | "
                       + " | ".join(shown for _, shown in cells) + f" | {'★' if r['pareto'] else ''} |")
        out.append("")
    return "\n".join(out)


def render(rows: Sequence[dict], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page, md = out / "index.html", out / "leaderboard.md"
    atomic_write(page, render_html(rows))
    atomic_write(md, render_markdown(rows))
    return page, md

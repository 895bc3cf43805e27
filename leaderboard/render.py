"""Render the leaderboard: one static HTML page (no server, no external assets) and a Markdown table.

The page has one table per track, sortable by every column (click a header; click again to reverse),
a paradigm filter that hides the rows (and chart points) of other paradigms, and an F1-versus-cost chart
(retrieval calls per question) drawn as inline SVG. Every submitted text loses its control characters
(:func:`printable`) and is escaped with :func:`html.escape` before it enters the page, and the script only
reads ``data-`` attributes and ``textContent``, so a method name such as ``<script>alert(1)</script>``
shows as text and runs nothing. In the Markdown table, a text is one line with its Markdown and HTML
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

COLUMNS = [("method", "method", "text"), ("paradigm", "paradigm", "text"), ("model", "model", "text"), ("em", "EM", "num"),
           ("f1", "F1", "num"), ("sub_em", "sub_em", "num"), ("rounds", "rounds", "num"), ("retrieval_calls", "retrieval calls", "num"),
           ("tokens", "tokens", "num"), ("n_missing", "missing", "num")]

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
"""


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


def _shown(value: object, scale: float, digits: int) -> str:
    """A number for the Markdown table; "–" for none, or for inf/NaN (which the validator refuses, but old rows may hold)."""
    return f"{value * scale:.{digits}f}" if isinstance(value, int | float) and math.isfinite(value) else "–"


def _cell(value, kind: str, key: str = "") -> str:
    if kind == "num":
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            shown = "–"
        elif isinstance(value, int):
            shown = str(value)
        else:
            shown = f"{value:.3f}" if key in SCORE_COLUMNS else f"{value:,.2f}"
        return f'<td data-value="{html.escape(str(value if shown != "–" else -1))}">{html.escape(shown)}</td>'
    text = _text(value)
    return f'<td class="text" data-value="{text}">{text}</td>'


def chart(rows: Sequence[dict], width: int = 520, height: int = 300) -> str:
    """An SVG scatter of F1 (%) against retrieval calls per question, one point per submission."""
    pad = 40
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
        x = pad + (width - pad - 10) * i / 4
        parts.append(f'<text x="{x:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{value:.1f}</text>')
    for r in rows:
        if not all(math.isfinite(v) for v in (r["f1"], r["retrieval_calls"] or 0.0) if isinstance(v, int | float)):
            continue  # no point for a number that is not one
        x = pad + (width - pad - 10) * _finite(r["retrieval_calls"]) / x_max
        y = height - pad - (height - pad - 10) * _finite(r["f1"])
        label = _text(f"{r['method']} ({r['paradigm']}): F1 {_finite(r['f1']) * 100:.1f}")
        parts.append(f'<g data-paradigm="{_text(r["paradigm"])}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#3366cc" '
                     f'fill-opacity="0.75"><title>{label}</title></circle></g>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(rows: Sequence[dict]) -> str:
    paradigms = sorted({printable(r["paradigm"]) for r in rows})
    options = "".join(f'<option value="{html.escape(p)}">{html.escape(p)}</option>' for p in paradigms)
    sections = []
    for slug, track in TRACKS.items():
        track_rows = [r for r in rows if r["track"] == slug]
        if not track_rows:
            continue
        head = "".join(f'<th class="{kind}" data-kind="{kind}">{html.escape(title)}</th>' for _, title, kind in COLUMNS)
        body = "".join(f'<tr data-paradigm="{_text(r["paradigm"])}">' + "".join(_cell(r[key], kind, key) for key, _, kind in COLUMNS)
                       + "</tr>" for r in track_rows)
        sections.append(f'<section class="track" id="{html.escape(slug)}"><h2>{html.escape(track.title)}</h2>'
                        f'<p class="meta">track <code>{html.escape(slug)}</code>: {html.escape(track.env_id)}, '
                        f'corpus {html.escape(track.corpus)}, top-{track.top_k}, '
                        f'split hash <code>{html.escape(track.split_hash[:16])}</code></p>'
                        f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{chart(track_rows)}</section>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>jade_env leaderboard</title>"
            f"<style>{STYLE}</style></head><body><h1>jade_env leaderboard</h1>"
            f'<label>paradigm <select id="paradigm"><option value="all">all</option>{options}</select></label>'
            + "".join(sections) + f"<script>{SCRIPT}</script></body></html>")


def render_markdown(rows: Sequence[dict]) -> str:
    out = []
    for slug, track in TRACKS.items():
        track_rows = [r for r in rows if r["track"] == slug]
        if not track_rows:
            continue
        out += [f"**{markdown_cell(track.title)}** (`{slug}`)", "", "| method | paradigm | EM | F1 | sub_em | retrieval calls | missing |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for r in sorted(track_rows, key=lambda r: -_finite(r["f1"])):
            out.append(f"| {markdown_cell(r['method'])} | {markdown_cell(r['paradigm'])} | {_shown(r['em'], 100, 1)} | "
                       f"{_shown(r['f1'], 100, 1)} | {_shown(r['sub_em'], 100, 1)} | {_shown(r['retrieval_calls'] or 0, 1, 2)} | "
                       f"{_shown(r['n_missing'], 1, 0)} |")
        out.append("")
    return "\n".join(out)


def render(rows: Sequence[dict], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page, md = out / "index.html", out / "leaderboard.md"
    atomic_write(page, render_html(rows))
    atomic_write(md, render_markdown(rows))
    return page, md

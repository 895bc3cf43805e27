"""Write one section of benchmarks/RESULTS.md, replacing the section of the same title if present."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEvery figure below was measured by the script and command named with it.\n"


def machine() -> str:
    """Cores, CPU model, memory, Python: the machine a figure was measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))) / 2**20
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def write_section(title: str, body: str) -> None:
    """Put ``body`` (which starts with the ``title`` line) in RESULTS.md in place of the old section."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    if title in text:
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        text = text[:start] + body + ("" if end == -1 else text[end:])
    else:
        text = text.rstrip() + "\n\n" + body
    RESULTS.write_text(text)

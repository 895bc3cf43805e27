"""Write one section of benchmarks/RESULTS.md, replacing the section of the same title if present; describe the machine
and its CPU steal (the time a shared VM's hypervisor takes)."""

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


def cpu_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat: busy is every state but idle, iowait and
    steal; stolen is the time the hypervisor ran something else while this machine wanted the CPU (on a shared VM it
    slows every figure here without showing up as any process's load)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:7]) - fields[3] - fields[4]) / tick, fields[7] / tick


class Steal:
    """The hypervisor's share of the machine's CPU time between its creation and ``share()`` (0 to 1, from /proc/stat)."""

    def __init__(self) -> None:
        self._busy, self._stolen = cpu_seconds()

    def share(self) -> float:
        busy, stolen = cpu_seconds()
        total = (busy - self._busy) + (stolen - self._stolen)
        return (stolen - self._stolen) / total if total > 0 else 0.0

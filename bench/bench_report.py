"""What every benchmark's section of docs/benchmarks.md needs: the machine's CPU name and the writing of
the section (appended to ``--out``, or printed)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_section(section: str, out: Path | None) -> None:
    """Append ``section`` to ``out``, or print it when no file is given."""
    if out:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(section)
    else:
        sys.stdout.write(section)

"""Shared ending of the benchmark scripts: print the figures, and write them as JSON if asked."""

from __future__ import annotations

import json
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it: the figures are this CPU's."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")


def emit(result: dict, path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")

"""Shared ending of the benchmark scripts: print the figures, and write them as JSON if asked."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")

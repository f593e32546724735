#!/usr/bin/env python3
"""Rewrite tests/data/golden_default.json: the sha256 of every file `mcu-toolkit convert` writes for the
embedded default model and audio, reports aside (they hold timings and figures measured with the CPU's
float32 kernels, which may differ in their last digits on another CPU).

    python scripts/golden_hashes.py [--check]

Run it after a change that is meant to alter the artifacts (a template, the quantisation, the pinned
stack), and say why in the commit. tests/test_reproducible.py checks the golden hashes on whatever
machine it runs; --check does the same here and exits 1 naming each file that differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_reproducible import GOLDEN  # noqa: E402

ABOUT = ("sha256 of every file `mcu-toolkit convert` writes for the embedded default model and audio, "
         "report.json and report.md aside. The same on any x86-64 CPU; rewrite with "
         "`python scripts/golden_hashes.py` after a change meant to alter them.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the golden file instead of rewriting it")
    args = ap.parse_args()
    from mcu_toolkit.convert import convert

    with tempfile.TemporaryDirectory() as tmp:
        # report.json holds the sha256 of every hashed file, checked against the files when a bundle opens
        report = json.loads((convert(out=Path(tmp) / "bundle", progress=False).out / "report.json").read_text())
    got, versions = report["sha256"], report["versions"]
    if args.check:
        golden = json.loads(GOLDEN.read_text())["sha256"]
        differ = sorted(n for n in set(golden) | set(got) if golden.get(n) != got.get(n))
        print("\n".join(f"differs: {n}" for n in differ) or f"all {len(got)} files match {GOLDEN.name}")
        return 1 if differ else 0
    GOLDEN.write_text(json.dumps({"about": ABOUT, "versions": versions, "sha256": got}, indent=1) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(got)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

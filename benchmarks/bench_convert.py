#!/usr/bin/env python3
"""Convert the embedded default twice and report wall time, sizes, arena, CCC and determinism.

    python benchmarks/bench_convert.py [--json benchmarks/results/convert.json]

Wall time is machine-noisy; the budget is 60 s on 2 cores (target 30 s). The second run is the
warm one (OS file cache, no first-import compilation), so both are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import emit  # noqa: E402
from mcu_toolkit.convert import convert  # noqa: E402

from mcu_toolkit.bundle import FILES  # noqa: E402

ARTIFACTS = tuple(n for n in FILES if not n.startswith("report."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--window-seconds", type=float, default=2.0)
    args = ap.parse_args()

    runs, digests = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            t = time.perf_counter()
            r = convert(out=Path(tmp) / f"run{i}", window_seconds=args.window_seconds, progress=False)
            runs.append(time.perf_counter() - t)
            digests.append({n: hashlib.sha256((r.out / n).read_bytes()).hexdigest() for n in ARTIFACTS})
    rep = r.report
    result = {
        "cpu_count": os.cpu_count(),
        "window_seconds": args.window_seconds,
        "convert_wall_s": [round(x, 2) for x in runs],
        "convert_steps_s": rep.timings_s,
        "tflite_bytes": rep.tflite_bytes,
        "arena_bytes": rep.arena_bytes,
        "arena_bytes_measured": rep.arena_bytes_measured,
        "macs_per_window": rep.macs,
        "ccc_int8_vs_float": rep.ccc,
        "eval_files": rep.eval_files,
        "byte_identical": {n: digests[0][n] == digests[1][n] for n in ARTIFACTS},
        "sha256": digests[1],
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()

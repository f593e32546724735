#!/usr/bin/env python3
"""`mcu-toolkit convert` of the embedded default, as a user runs it: wall time, stages, sizes, CCC, bytes.

    python benchmarks/bench_convert.py [--runs 3] [--json benchmarks/results/convert.json]
                                       [--litert-python /work/litert-venv/bin/python]

Each run is a whole new process (imports included), from its own working folder and TMPDIR, so the
figure is what a firmware engineer waits for. Wall time is machine-noisy: the median of the runs is
the figure, and every run's artifacts must be byte-identical (timings aside). `differs_from_golden` names
any artifact whose sha256 is not the one in tests/data/golden_default.json, with the CPU it ran on.

--litert-python: a Python with litert-torch 0.10 (its own venv; see litert_torch_baseline.py). Its PT2E
conversion of the same trunk then runs after each of our runs, so that both are timed in the same
conditions. Without it, that figure is reported as not measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _report import cpu_model, emit  # noqa: E402
from test_reproducible import GOLDEN  # noqa: E402

from mcu_toolkit.bundle import HASHED as ARTIFACTS  # noqa: E402 (every file but the reports)
from mcu_toolkit.spec import WINDOW_DEFAULT_S  # noqa: E402


def one_run(tmp: Path, i: int, window_seconds: float) -> tuple[float, dict, dict]:
    cwd, tmpdir = tmp / f"run{i}", tmp / f"tmp{i}"
    cwd.mkdir()
    tmpdir.mkdir()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mcu_toolkit.cli", "convert", "--out", "bundle", "--quiet",
                    "--window-seconds", str(window_seconds)], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "TMPDIR": str(tmpdir)})
    wall = time.perf_counter() - t
    out = cwd / "bundle"
    report = json.loads((out / "report.json").read_text())
    return wall, report, {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in ARTIFACTS}


def litert_run(python: str, tmp: Path, i: int) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([python, str(Path(__file__).parent / "litert_torch_baseline.py"), "--out",
                        str(tmp / f"litert{i}.tflite")], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    return wall, json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window-seconds", type=float, default=WINDOW_DEFAULT_S)
    ap.add_argument("--litert-python", default=None, help="a Python with litert-torch, for the side-by-side figure")
    args = ap.parse_args()

    runs, lit = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(one_run(Path(tmp), i, args.window_seconds))
            if args.litert_python:
                lit.append(litert_run(args.litert_python, Path(tmp), i))
    walls = [w for w, _, _ in runs]
    rep, digests = runs[-1][1], [d for _, _, d in runs]
    golden = json.loads(GOLDEN.read_text())["sha256"]
    stages = {k: round(statistics.median(r["timings_s"][k] for _, r, _ in runs), 2) for k in rep["timings_s"]}
    result = {
        "cpu_count": os.cpu_count(),
        "window_seconds": args.window_seconds,
        "convert_wall_s": [round(x, 2) for x in walls],
        "convert_wall_s_median": round(statistics.median(walls), 2),
        "convert_steps_s_median": stages,
        "tflite_bytes": rep["tflite_bytes"],
        "arena_bytes": rep["arena_bytes"],
        "arena_bytes_measured": rep["arena_bytes_measured"],
        "macs_per_window": rep["macs"],
        "ccc_int8_vs_float": rep["ccc"],
        "eval_files": rep["eval_files"],
        "byte_identical": {n: len({d[n] for d in digests}) == 1 for n in ARTIFACTS},
        "cpu_model": cpu_model(),
        # the hashes live in one place, tests/data/golden_default.json (scripts/golden_hashes.py)
        "differs_from_golden": (sorted(n for n in ARTIFACTS if digests[-1][n] != golden.get(n))
                                if args.window_seconds == WINDOW_DEFAULT_S else "n/a: not the default window"),
        "litert_torch": ({"wall_s": [round(w, 2) for w, _ in lit], "wall_s_median": round(statistics.median(
                              w for w, _ in lit), 2), "tflite_bytes": lit[-1][1]["tflite_bytes"],
                          "tool": lit[-1][1]["tool"], "op_counts": lit[-1][1]["op_counts"],
                          "note": "PT2E int8 of the same trunk, same calibration windows; its pooling stays float32"}
                         if lit else "not measured (no --litert-python)"),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Does `mcu-toolkit convert` of the embedded default write the golden bytes on this CPU?

    python benchmarks/bench_cpus.py [--json benchmarks/results/cpus.json]

Two whole convert processes: one as the machine is, one with every instruction-set cap of
tests/test_reproducible.py (MKL's conditional reproducibility and instruction cap, oneDNN's and ATen's ISA caps,
numpy's dispatch features turned off), which send MKL, oneDNN, ATen and numpy down other kernels. Writes the
CPU's model name and flags that pick kernels, the wall time of each run, and which artifacts differ from
tests/data/golden_default.json (an empty list: the same bytes as the machine that wrote it). Run it on each
machine whose bytes you want to compare; the results of one machine are one JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _report import cpu_model, emit  # noqa: E402
from test_reproducible import GOLDEN, isa_paths  # noqa: E402

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile")


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    have = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return [f for f in FLAGS if f in have]


def one(folder: Path, name: str, env: dict) -> dict:
    out = folder / f"bundle-{name}"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mcu_toolkit.cli", "convert", "--out", str(out), "--quiet"],
                       env=env, capture_output=True, text=True, cwd=folder)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        return {"wall_s": round(wall, 1), "failed": r.stderr.strip().splitlines()[-1:]}
    golden = json.loads(GOLDEN.read_text())["sha256"]
    got = json.loads((out / "report.json").read_text())["sha256"]  # every file but the reports, as written
    return {"wall_s": round(wall, 1), "differs_from_golden": sorted(n for n in golden if got.get(n) != golden[n]),
            "sha256": {n: got[n] for n in ("model.onnx", "model_int8.tflite", "w2s_engine_model.c")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    base = {k: v for k, v in os.environ.items() if k != "MCU_TOOLKIT_CACHE"}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"as is": one(Path(tmp), "native", base),
                "ISA paths capped": {"env": isa_paths(), **one(Path(tmp), "capped", {**base, **isa_paths()})}}
    emit({"cpu": cpu_model(), "cpu_flags": cpu_flags(), "golden": str(GOLDEN.relative_to(ROOT)), "runs": runs},
         args.json)


if __name__ == "__main__":
    main()

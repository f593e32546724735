#!/usr/bin/env python3
"""Flash and RAM per board for the default model at several window lengths, and which fit.

    python benchmarks/bench_boards.py [--json benchmarks/results/boards.json]

Each window is a real convert (the arena is measured by TFLM); flash/RAM follow the budget rules
in mcu_toolkit/firmware/boards.py (model, front end and arena measured; TFLM/HAL/stack estimated).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import emit  # noqa: E402
from mcu_toolkit.convert import convert  # noqa: E402
from mcu_toolkit.firmware.boards import BOARDS, KIB, budget  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--windows", type=float, nargs="+", default=[2.0, 1.0, 0.5, 0.2])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.windows:
            rep = convert(out=Path(tmp) / f"w{w}", window_seconds=w, progress=False).report
            for name, board in BOARDS.items():
                for psram in ((False, True) if name == "esp32-s3" else (False,)):
                    b = budget(board, rep, psram)
                    rows.append({
                        "window_s": w, "board": name + (" +psram" if psram else ""),
                        "arena_kib": round(rep["arena_bytes"] / KIB, 1),
                        "flash_kib": round(b.flash_used / KIB, 1),
                        "flash_limit_kib": None if b.flash_limit is None else round(b.flash_limit / KIB),
                        "ram_kib": round(b.ram_used / KIB, 1),
                        "ram_limit_kib": None if b.ram_limit is None else round(b.ram_limit / KIB),
                        "fits": b.fits, "ccc": rep["ccc"],
                    })
    emit({"rows": rows}, args.json)


if __name__ == "__main__":
    main()

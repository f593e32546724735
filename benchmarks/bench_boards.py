#!/usr/bin/env python3
"""Flash and RAM per board for the default model at several window lengths, for both engines, and which fit;
and each board's w2s schedule at the first window (firmware/speed.py's estimate).

    python benchmarks/bench_boards.py [--json benchmarks/results/boards.json] [--windows 2 10 1 0.5 0.2]
                                      [--live SECONDS]

Each window is a real convert (the arena is measured by TFLM, the engine's state is exact); flash/RAM
follow the budget rules in mcu_toolkit/firmware/boards.py (w2s: engine, front end and window store
exact, HAL/stack estimated; tflm: model, front end and arena measured, TFLM/HAL/stack estimated). For each
board that refuses the first window on TFLM, the window its refusal suggests is converted too, to check
that the estimate really fits. The qemu-f411 image's own ELF figures are in bench_device_speed.py.

The schedule table: for each board with a clock, its schedule (pipelined or duty-cycled), CPU load or the share
of the audio analysed, the latency, one engine row's burst against half the ring, flash and RAM. --live
SECONDS also runs the qemu-f411 image live (validate --device qemu-m4) at each board's clock and its core's
cycles per instruction, on two clips of SECONDS s cut from the held-out syn_ clips played back to back (CCC needs
two), and records what it measured next to the estimate.
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
from mcu_toolkit.cores import CORES  # noqa: E402
from mcu_toolkit.firmware.boards import BOARDS, KIB, budget, largest_window_that_fits  # noqa: E402
from mcu_toolkit.firmware.speed import verdict  # noqa: E402


def float_window_agreement(windows: list[float]) -> dict:
    """CCC of the float model's per-clip outputs at each window length against those at the first:
    what a shorter window changes in the model itself, before any quantisation."""
    import numpy as np
    import torch

    from mcu_toolkit import resources
    from mcu_toolkit.audio import list_audio, load_windows
    from mcu_toolkit.model import load_checkpoint
    from mcu_toolkit.verify.ccc import ccc_per_dim

    model = load_checkpoint(resources.default_checkpoint()).eval()
    files = list_audio(resources.default_eval_dir())

    def per_clip(seconds: float) -> np.ndarray:
        with torch.no_grad():
            return np.array([model(torch.from_numpy(np.stack(c.windows).astype(np.float32))).numpy().mean(0)
                             for c in load_windows(files, int(round(seconds * 16000)))])

    ref = per_clip(windows[0])
    return {str(w): {k: round(v, 4) for k, v in ccc_per_dim(per_clip(w), ref).items()} for w in windows[1:]}


def schedule_rows(rep, window_s: float) -> list[dict]:
    """Each board with a clock: its w2s schedule for `rep` (None where its core has no cycle figure)."""
    rows = []
    for name, board in BOARDS.items():
        if board.mhz is None or "w2s" not in board.engines:
            continue
        v, b = verdict(board, rep, "w2s"), budget(board, rep, engine="w2s")
        s = v.schedule
        rows.append({
            "board": name, "window_s": window_s, "mhz": board.mhz, "note": v.note,
            "schedule": None if s is None else s.kind,
            "cpu_load": None if s is None else round(s.cpu_load, 3),
            "coverage": None if s is None else round(s.coverage, 3),
            "period_s": None if s is None else round(s.period_s, 3),
            "latency_s": None if s is None else round(s.latency_s, 3),
            "burst_ms": None if s is None else round(s.burst_s * 1e3, 2),
            "ring_half_ms": None if s is None else round(s.ring_s * 1e3, 1),
            "engine_cycles_per_window": v.engine_cycles or None,
            "frontend_cycles_per_window": v.frontend_cycles or None,
            "flash_kib": round(b.flash_used / KIB, 1), "flash_limit_kib": round(b.flash_limit / KIB),
            "ram_kib": round(b.ram_used / KIB, 1), "ram_limit_kib": round(b.ram_limit / KIB),
        })
    return rows


def live_clips(seconds: float, folder: Path) -> Path:
    """Two clips of `seconds` s (validate's CCC needs two) cut from the held-out syn_ clips played back to back."""
    import numpy as np
    import soundfile as sf

    from mcu_toolkit import resources
    from mcu_toolkit.audio import load_audio

    n = int(round(seconds * 16000))
    pcm = []
    while sum(len(p) for p in pcm) < 2 * n:
        before = len(pcm)
        pcm += [load_audio(f) for f in sorted(resources.default_eval_dir().glob("syn_*"))]
        if len(pcm) == before:
            raise SystemExit("no syn_ clips in the held-out set")
    audio = np.concatenate(pcm)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        sf.write(folder / f"live_{k}.wav", audio[k * n:(k + 1) * n], 16000, subtype="PCM_16")
    return folder


def add_live(rows: list[dict], bundle: Path, seconds: float, tmp: Path) -> None:
    """The qemu-f411 image live at each board's clock and cycles per instruction, next to the estimate."""
    from mcu_toolkit.verify.validation import validate

    clips = live_clips(seconds, tmp / "live_clips")
    for row in rows:
        rates = CORES[BOARDS[row["board"]].core].rates
        if row["schedule"] is None or rates is None or rates.measured_on != "cortex-m4f":
            continue  # the live image runs the M4's kernels: a core with its own kernel family has no live run
        res = validate(bundle, clips, device="qemu-m4", clock_mhz=row["mhz"], cpi=rates.cycles_per_instruction)
        lv = res.live
        # the schedule's count on a clip: the first window at 0, then one per period (coverage W / P is the
        # long-run share; a short clip gets the first window free)
        per_clip = 1 + int((seconds - row["window_s"]) // row["period_s"]) if row["period_s"] else None
        row["live"] = {"clip_seconds": seconds, "clips": 2,
                       "windows_estimated": None if per_clip is None else 2 * per_clip,
                       **{k: lv[k] for k in ("dropped_samples", "partial_windows", "coverage", "cpu_load",
                                             "latency_ms_max", "windows_total", "windows_analysed", "windows_cut",
                                             "longest_step_ms", "ring_peak")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--windows", type=float, nargs="+", default=[2.0, 10.0, 1.0, 0.5, 0.2])
    ap.add_argument("--live", type=float, metavar="SECONDS",
                    help="also run the qemu-f411 image live at each board's clock on SECONDS s clips")
    args = ap.parse_args()
    rows, hints = [], []
    with tempfile.TemporaryDirectory() as tmp:
        reports = {}

        def report(w: float) -> dict:
            if w not in reports:
                reports[w] = convert(out=Path(tmp) / f"w{w}", window_seconds=w, progress=False, jobs=2).report
            return reports[w]

        for w in args.windows:
            rep = report(w)
            for (name, board), engine in ((nb, e) for nb in BOARDS.items() for e in nb[1].engines):
                for psram in ((False, True) if board.psram and engine == "tflm" else (False,)):
                    b = budget(board, rep, psram, engine)
                    rows.append({
                        "window_s": w, "board": name + (" +psram" if psram else ""), "engine": engine,
                        "arena_kib": round(rep.arena_bytes / KIB, 1),
                        "flash_kib": round(b.flash_used / KIB, 1),
                        "flash_limit_kib": None if b.flash_limit is None else round(b.flash_limit / KIB),
                        "ram_kib": round(b.ram_used / KIB, 1),
                        "ram_limit_kib": None if b.ram_limit is None else round(b.ram_limit / KIB),
                        "fits": b.fits, "gram_scale": rep.gram_scale,
                        "ccc": rep.ccc if engine == "w2s" else rep.tflm.ccc,
                    })
        # Does the window a refusal suggests (an estimate) really fit once converted?
        first = report(args.windows[0])
        for name, board in BOARDS.items():
            if "tflm" not in board.engines:
                continue
            b = budget(board, first, engine="tflm")
            hint = None if b.fits else largest_window_that_fits(b, first)
            if hint:
                again = budget(board, report(hint), engine="tflm")
                hints.append({"board": name, "refused_window_s": args.windows[0], "suggested_window_s": hint,
                              "ram_kib_there": round(again.ram_used / KIB, 1), "fits_there": again.fits,
                              "ccc_there": reports[hint].tflm.ccc})
        schedules = schedule_rows(first, args.windows[0])
        if args.live:
            add_live(schedules, Path(tmp) / f"w{args.windows[0]}", args.live, Path(tmp))
    emit({"rows": rows, "suggested_windows": hints, "schedules": schedules,
          f"float_model_ccc_vs_{args.windows[0]:g}s_windows": float_window_agreement(args.windows)}, args.json)


if __name__ == "__main__":
    main()

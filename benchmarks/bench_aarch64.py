#!/usr/bin/env python3
"""The engine on aarch64 in user-mode QEMU: instructions per 2 s window of the portable C, the NEON SMLAL kernels
and the SDOT ones (w2s_engine_conv_neon.c), and the time qemu-aarch64 takes.

    python benchmarks/bench_aarch64.py [--bundle DIR] [--windows 3] [--opt -O3] [--json PATH]

Converts the embedded default (or takes --bundle), builds tests/c/engine_harness.c with aarch64-linux-gnu-gcc for
each kind and checks its first window against the mirror. Instructions: qemu-aarch64 -d in_asm,exec,nochain logs
every translation block's instructions once and every execution of one; their product, summed, is the guest's
instruction count (a run of --windows random windows less a run of none, per window), by function too. The time is
QEMU's (best of 3): only indicative, as TCG emulates each NEON instruction with several host ones.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import cbuild  # noqa: E402
import engine_build as eb  # noqa: E402
from _report import emit  # noqa: E402
from mcu_toolkit.engine.mirror import Engine  # noqa: E402
from mcu_toolkit.engine.tail import Head  # noqa: E402

KINDS = {"portable": ("-DW2S_ENGINE_PORTABLE",), "neon_smlal": (), "neon_sdot": ("-march=armv8.2-a+dotprod",)}


def count(exe: Path, data: bytes) -> tuple[int, collections.Counter]:
    """Guest instructions of one run, and by function (the ELF's symbols)."""
    nm = subprocess.run(["aarch64-linux-gnu-nm", str(exe)], capture_output=True, text=True, check=True).stdout
    syms = sorted((int(a, 16), n) for a, t, n in (ln.split() for ln in nm.splitlines() if len(ln.split()) == 3)
                  if t in "tT")
    starts = [a for a, _ in syms]
    size, runs, block = {}, collections.Counter(), None
    with tempfile.TemporaryDirectory() as d:
        fifo, inp = os.path.join(d, "log"), os.path.join(d, "in.bin")
        Path(inp).write_bytes(data)
        os.mkfifo(fifo)
        with open(inp, "rb") as stdin:
            p = subprocess.Popen(["qemu-aarch64", "-d", "in_asm,exec,nochain", "-D", fifo, str(exe)], stdin=stdin,
                                 stdout=subprocess.DEVNULL)
            with open(fifo, errors="replace") as log:
                for line in log:
                    if line.startswith("Trace"):
                        runs[int(line.split("[", 1)[1].split("/")[1], 16)] += 1
                    elif line.startswith("0x"):
                        if block is None:
                            block = int(line.split(":", 1)[0], 16)
                            size[block] = 0
                        size[block] += 1
                    elif line.startswith(("IN:", "----")):
                        block = None
            p.wait()
    by = collections.Counter()
    for pc, n in runs.items():
        i = bisect.bisect_right(starts, pc) - 1
        by[syms[i][1] if i >= 0 else "?"] += n * size[pc]
    return sum(by.values()), by


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, help="a converted bundle (default: convert the embedded default)")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--opt", default="-O3")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if cbuild.missing(*cbuild.AARCH64_TOOLS):
        sys.exit(cbuild.missing(*cbuild.AARCH64_TOOLS))
    with tempfile.TemporaryDirectory() as work:
        b = a.bundle
        if b is None:
            from mcu_toolkit.convert import convert

            b = convert(out=Path(work) / "bundle", progress=False).out
        e = Engine.from_tflite((b / "model_int8.tflite").read_bytes(),
                               Head.from_json((b / "engine_head.json").read_text(), "head"))
        report = json.loads((b / "report.json").read_text())
        frames = report["frames_per_window"]
        rng = np.random.default_rng(1)
        windows = [rng.integers(-128, 128, (frames, e.graph.n_mels), dtype=np.int8) for _ in range(a.windows)]
        result = {"opt": a.opt, "frames_per_window": frames, "macs_per_window": report["macs"], "windows": a.windows,
                  "kinds": {}}
        for kind, flags in KINDS.items():
            exe = eb.build(e, Path(work) / kind, cbuild.AARCH64, a.opt, *flags)
            got, _ = eb.run_host(exe, windows[:1], eb.columns(e))
            eb.check_against_mirror(e, windows[:1], got)
            total, by = count(exe, eb.pack(windows))
            base, _ = count(exe, b"")
            best = min(_timed(exe, eb.pack(windows)) for _ in range(3))
            per = (total - base) / a.windows
            result["kinds"][kind] = {"instructions_per_window": round(per),
                                     "qemu_ms_per_window": round(1000 * best / a.windows, 1),
                                     "by_function": {n: round(c / a.windows) for n, c in by.most_common(6)}}
            print(f"{kind:>10}: {per / 1e6:7.2f} M instructions per window, qemu-aarch64 "
                  f"{1000 * best / a.windows:6.1f} ms per window (indicative)", flush=True)
        emit(result, a.json)


def _timed(exe: Path, data: bytes) -> float:
    t = time.perf_counter()
    subprocess.run(cbuild.command(exe), input=data, capture_output=True, check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()

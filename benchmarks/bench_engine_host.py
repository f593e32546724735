#!/usr/bin/env python3
"""The C engine alone on this host, ms per window on one core, for each x86 kernel family it can compile:

    taskset -c 0 python benchmarks/bench_engine_host.py [--bundle DIR] [--windows 20] [--repeats 5] [--json PATH]

Variants: portable (-O3 -march=native -DW2S_ENGINE_PORTABLE: the plain C), avx2 (-O3 -mavx2 -mfma, AVX-512 off:
w2s_engine_conv_x86.c with vpmaddwd), vnni (-O3 -march=native: the same file with vpdpbusd and AVX-512 for the
requantisation, where the CPU has AVX-512 VNNI, BW and VL; null where it cannot run). Input: realistic int8 windows,
the held-out audio through the device's front end (verify.deployed.device_input_s8), cut to the bundle's window.
benchmarks/c/engine_bench.c times every window with clock_gettime after a warm-up pass; the figure is the median of
--repeats passes. Every variant must give the same output bits (its checksum), or the script stops. The engine's
files, the generated model among them, are this tree's, emitted for the bundle's int8 model and head (as validate's
native build does): the bundle's own copies may come from an older layout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # cbuild, engine_build: the tests' compiler command lines

from _report import emit  # noqa: E402

VARIANTS = {"portable": ("-march=native", "-DW2S_ENGINE_PORTABLE"),
            "avx2": ("-mavx2", "-mfma", "-mno-avx512f"),
            "vnni": ("-march=native",)}
HARNESS = ROOT / "benchmarks" / "c" / "engine_bench.c"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}


def runnable(variant: str, flags: set[str]) -> bool:
    return {"portable": True, "avx2": "avx2" in flags,
            "vnni": {"avx512_vnni", "avx512vl", "avx512bw"} <= flags}[variant]


def windows(bundle: Path, n: int) -> list[np.ndarray]:
    """n int8 windows of the held-out audio, as the device's front end gives them to the model."""
    import csv

    from mcu_toolkit import resources
    from mcu_toolkit.audio import cut_windows, load_audio
    from mcu_toolkit.verify.deployed import device_input_s8

    r = json.loads((bundle / "report.json").read_text())
    q, (_, frames, mels, _) = r["input_quant"], r["input_shape"]
    d, out = resources.default_eval_dir(), []
    with open(d / "targets.csv") as f:
        files = [row["file"] for row in csv.DictReader(f)]
    for name in files:
        for w in cut_windows(load_audio(d / name), r["window_samples"])[0]:
            x = device_input_s8(w, r["frontend"]["kind"], mels, q["scale"], q["zero_point"])
            assert x.shape == (frames, mels)
            out.append(x)
            if len(out) == n:
                return out
    return out


def engine_of(bundle: Path):
    """The bundle's engine (its int8 model and head), as validate builds it."""
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head

    head = Head.from_json((bundle / "engine_head.json").read_text(), f"{bundle}: engine_head.json")
    return Engine.from_tflite((bundle / "model_int8.tflite").read_bytes(), head)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("/tmp/b23"), help="a converted bundle (its generated model)")
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import cbuild
    import engine_build as eb
    from mcu_toolkit.emit.c_engine import engine_files

    flags = cpu_flags()
    xs = windows(args.bundle, args.windows)
    data = eb.pack(xs)
    result, checks = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "windows.bin").write_bytes(data)
        src = cbuild.write(engine_files(engine_of(args.bundle)), work / "engine")
        engine = sorted(src.glob("*.c"))
        includes = [src]
        for name, extra in VARIANTS.items():
            if not runnable(name, flags):
                result[name] = None
                continue
            exe = cbuild.build([*engine, HARNESS], work / name, opt="-O3",
                               flags=[*eb.FLAGS, *extra], includes=includes)
            lines = subprocess.run([str(exe), str(work / "windows.bin"), str(args.repeats)], capture_output=True,
                                   text=True, check=True).stdout.split("\n")
            checks[name] = lines[args.repeats]
            result[name] = round(statistics.median(float(v) for v in lines[:args.repeats]) / 1e6, 3)
    if len(set(checks.values())) > 1:
        raise SystemExit(f"the variants' outputs differ: {checks}")
    emit({"ms_per_window": result, "windows": len(xs), "frames_per_window": int(xs[0].shape[0])}, args.json)


if __name__ == "__main__":
    main()

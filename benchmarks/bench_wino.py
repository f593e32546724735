#!/usr/bin/env python3
"""The M4 figures of the Winograd F(4,3) convs: the qemu-f411 image (-O2, DSP kernels) on the held-out clips,
with the engine files re-emitted from the bundle's TFLite by this checkout's generator.

    python benchmarks/bench_wino.py [--bundle /tmp/b2] [--json PATH]

Prints instructions per second of audio (front end, engine, per layer), engine state bytes and the ELF's
flash, as bench_device_speed.py's O2_dsp build does, plus the Winograd weights' flash and each conv's bounds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import emit  # noqa: E402
from bench_device_speed import CLIPS, measure  # noqa: E402


def reemit(src: Path, dst: Path):
    """A copy of the bundle with this checkout's engine files (their sha256 and the engine's figures in
    report.json)."""
    from mcu_toolkit.emit.c_engine import engine_files
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head

    shutil.copytree(src, dst)
    engine = Engine.from_tflite((src / "model_int8.tflite").read_bytes(),
                                Head.from_json((src / "engine_head.json").read_text(), "head"))
    from mcu_toolkit.engine.winograd import rows_bytes

    report = json.loads((dst / "report.json").read_text())
    report["engine"].update(state_bytes=engine.state_bytes(), winograd_bytes=rows_bytes(engine),
                            winograd_macs_per_window=engine.graph.winograd_macs(report["frames_per_window"]))
    for name, text in engine_files(engine).items():
        (dst / name).write_text(text)
        report["sha256"][name] = hashlib.sha256(text.encode()).hexdigest()
    (dst / "report.json").write_text(json.dumps(report, indent=2))
    return engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=Path("/tmp/b2"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--opt", default="-O2")
    args = ap.parse_args()
    from mcu_toolkit import resources
    from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16
    from mcu_toolkit.bundle import Bundle
    from mcu_toolkit.engine import winograd
    from mcu_toolkit.engine.layers import Conv
    from mcu_toolkit.verify.device import write_wav

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        engine = reemit(args.bundle, work / "bundle")
        report = Bundle.open(work / "bundle").report
        windows = []
        for f in list_audio(resources.default_eval_dir())[-CLIPS:]:
            windows += cut_windows(load_audio(f), report.window_samples)[0]
        wav, seconds = work / "clips.wav", len(windows) * report.window_samples / 16000
        write_wav(wav, np.concatenate([to_pcm16(w) for w in windows]))
        build = measure(work / "bundle", args.opt, wav, seconds, work)
    convs = [(k, c) for k, c in enumerate(engine.graph.layers) if isinstance(c, Conv)]
    result = {"audio_seconds": seconds, "opt": args.opt, **build,
              "winograd_layers": [k for k, c in convs if c.winograd],
              "winograd_weight_bytes": sum(2 * winograd.weights_s16(c).size for _, c in convs if c.winograd),
              "bounds": {f"layer{k}": vars(winograd.winograd_bounds(c)) for k, c in convs}}
    emit(result, args.json)


if __name__ == "__main__":
    main()

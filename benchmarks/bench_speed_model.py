#!/usr/bin/env python3
"""What the real-time check's estimate rests on: the w2s engine's Cortex-M4 instructions for models of other
shapes, and the two rates firmware/speed.py takes from them.

    python benchmarks/bench_speed_model.py [--json benchmarks/results/speed_model.json]

Converts the embedded default and seeded random card-layout checkpoints of other widths (8 to 16 channels,
20 to 32 mels; the instruction count depends on the shapes, not on the weights), runs each one's qemu-f411
image (-O2, SMLAD kernels, QEMU -icount) on two 2 s windows of held-out audio, and fits

    engine instructions per second of audio = a * MACs per second + b * int8 outputs per second

(least squares, no constant): a is the kernels' cost per MAC, b what each output costs besides its MACs
(requantisation, the next layer's widening, the block loops). One rate per MAC alone misses the small
models by a quarter: their share of outputs per MAC is larger. a and b come from the direct engines
(winograd.direct: every conv direct, as a board without room for the Winograd rows gets). Then the images
as firmware builds them (Winograd convs where the F411's RAM has room for their rows) give w, the rate of a
Winograd conv's MAC (counted as its direct MACs), with a and b held:

    engine = a * (MACs - Winograd MACs) + w * Winograd MACs + b * int8 outputs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import emit  # noqa: E402

SHAPES = ((8, 20), (10, 26), (12, 32), (13, 26), (16, 26))  # (channels, mels) of the random checkpoints


def _checkpoint(channels: int, mels: int, folder: Path) -> Path:
    import torch

    from mcu_toolkit.model import Wav2Small, save_checkpoint
    from mcu_toolkit.model.wav2small import Wav2SmallConfig

    torch.manual_seed(channels * 100 + mels)
    save_checkpoint(Wav2Small(Wav2SmallConfig(channels=channels, n_mels=mels)).eval(), folder)
    return folder


def _direct_bundle(src: Path, dst: Path) -> Path:
    """A copy of the bundle whose engine model has every conv direct (winograd.direct: what a board without room
    for the Winograd rows gets), its sha256 in report.json updated."""
    import hashlib
    import json
    import shutil

    from mcu_toolkit.emit.c_engine import MODEL_FILES, engine_files
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head
    from mcu_toolkit.engine.winograd import direct

    shutil.copytree(src, dst)
    head = Head.from_json((src / "engine_head.json").read_text(), "head")
    files = engine_files(direct(Engine.from_tflite((src / "model_int8.tflite").read_bytes(), head)))
    report = json.loads((dst / "report.json").read_text())
    for name in MODEL_FILES:
        (dst / name).write_text(files[name])
        report["sha256"][name] = hashlib.sha256(files[name].encode()).hexdigest()
    (dst / "report.json").write_text(json.dumps(report, indent=2))
    return dst


def _measure(checkpoint: Path | None, work: Path, wav: Path, seconds: float) -> dict:
    from mcu_toolkit.convert import convert
    from mcu_toolkit.verify.device import build_image, run_image

    from mcu_toolkit.firmware.boards import BOARDS, budget

    r = convert(checkpoint, out=work / "bundle", progress=False).report
    run = run_image(build_image(work / "bundle", work / "img"), wav)
    direct = run_image(build_image(_direct_bundle(work / "bundle", work / "direct_bundle"), work / "direct"), wav)
    winograd = budget(BOARDS["qemu-f411"], r).winograd  # the image firmware builds: Winograd if its rows fit
    return {"channels": r.model["channels"], "n_mels": r.model["n_mels"],
            "macs_per_s": r.macs / r.window_seconds,
            "winograd_macs_per_s": (r.engine.winograd_macs_per_window or 0) / r.window_seconds if winograd else 0,
            "int8_outputs_per_s": r.engine.int8_outputs_per_window / r.window_seconds,
            "engine_instructions_per_s": 1000 * sum(run.engine_kinstr) / seconds,
            "direct_engine_instructions_per_s": 1000 * sum(direct.engine_kinstr) / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from mcu_toolkit import resources
    from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16
    from mcu_toolkit.verify.device import write_wav

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = list_audio(resources.default_eval_dir())
        windows = [cut_windows(load_audio(f), 32000)[0][0] for f in (clips[-1], clips[-2])]
        write_wav(work / "clips.wav", np.concatenate([to_pcm16(w) for w in windows]))
        seconds = 2.0 * len(windows)
        models = {"default": _measure(None, work / "default", work / "clips.wav", seconds)}
        for c, m in SHAPES:
            name = f"random_c{c}_m{m}"
            models[name] = _measure(_checkpoint(c, m, work / name / "ck"), work / name, work / "clips.wav", seconds)
    a = np.array([[v["macs_per_s"], v["int8_outputs_per_s"]] for v in models.values()])
    y = np.array([v["direct_engine_instructions_per_s"] for v in models.values()])
    (per_mac, per_output), *_ = np.linalg.lstsq(a, y, rcond=None)
    per_mac, per_output = round(float(per_mac), 3), round(float(per_output), 1)  # as cores.py takes them
    wm = np.array([v["winograd_macs_per_s"] for v in models.values()])
    rest = np.array([v["engine_instructions_per_s"] for v in models.values()]) - (a[:, 0] - wm) * per_mac \
        - a[:, 1] * per_output
    per_wmac = round(float(wm @ rest / (wm @ wm)), 3)
    for v, p, q in zip(models.values(), a @ np.array([per_mac, per_output]),
                       (a[:, 0] - wm) * per_mac + wm * per_wmac + a[:, 1] * per_output):
        v["direct_fit_error"] = round(float(p / v["direct_engine_instructions_per_s"] - 1), 4)
        v["fit_error"] = round(float(q / v["engine_instructions_per_s"] - 1), 4)
        v["per_mac_alone"] = round(v["engine_instructions_per_s"] / v["macs_per_s"], 3)
    emit({"note": "QEMU -icount instruction counts of the qemu-f411 image (-O2, SMLAD), 2 s windows; "
                  "direct builds: engine = per_mac * MACs + per_output * int8 outputs, least squares over these "
                  "models; as built (Winograd convs where the F411 has room for their rows): per_winograd_mac "
                  "replaces per_mac for those convs' MACs",
          "per_mac": per_mac, "per_output": per_output, "per_winograd_mac": per_wmac, "models": models},
         args.json)


if __name__ == "__main__":
    main()

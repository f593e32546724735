#!/usr/bin/env python3
"""The firmware on an emulated RISC-V rv32imc core (the ESP32-C3 class): instructions per second of audio, per
layer, the image's flash and RAM, and (--fit) the two engine rates cores.py's QEMU_RV32 holds.

    python benchmarks/bench_rv32.py [--bundle DIR] [--fit] [--json PATH]

Runs the qemu-rv32 image (firmware --board qemu-rv32: riscv64-unknown-elf-gcc -march=rv32imc_zicsr -mabi=ilp32,
picolibc, the portable C kernels, soft float) under qemu-system-riscv32 -M virt -icount shift=0 on the windows
of four held-out clips, as bench_device_speed.py runs the Cortex-M4, built -O2 (the Makefile's) and -Os; counts
are minstret (instructions retired), not cycles. --fit also converts bench_speed_model.py's random checkpoints
(8 to 16 channels, 20 to 32 mels) and fits, on two 2 s windows,

    engine instructions per second of audio = a * MACs per second + b * int8 outputs per second

as bench_speed_model.py does for the M4. Without --bundle the embedded default is converted at 2 s first.
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
from bench_device_speed import CLIPS, figures, image_size  # noqa: E402

DEVICE = "qemu-rv32"


def measure(bundle: Path, wav: Path, seconds: float, work: Path, opt: str = "-O2") -> dict:
    from mcu_toolkit.cores import CORES
    from mcu_toolkit.verify.device import DEVICES, build_image, run_image

    device = DEVICES[DEVICE]
    elf = build_image(bundle, work, opt=opt, device=device)
    run = run_image(elf, wav, device=device)
    return {**figures(run, seconds), "stack_high_water_bytes": run.stack_high_water,
            "engine_state_bytes": run.engine_state, "image": image_size(elf, CORES["rv32imc"].size_tool),
            "kinstr_per_window": {"frontend": run.frontend_kinstr, "engine": run.engine_kinstr}}


def fit(work: Path, wav: Path, seconds: float, default: Path) -> dict:
    """The engine's rates over the default (its bundle) and bench_speed_model.py's random models (least squares)."""
    from bench_speed_model import SHAPES, _checkpoint

    from mcu_toolkit.bundle import Bundle
    from mcu_toolkit.convert import convert

    models = {}
    for c, m in ((None, None), *SHAPES):
        name = "default" if c is None else f"random_c{c}_m{m}"
        b = default if c is None else convert(_checkpoint(c, m, work / name / "ck"), out=work / name / "bundle",
                                               progress=False).out
        r = Bundle.open(b).report
        run = measure(b, wav, seconds, work / name / "img")
        models[name] = {"channels": r.model["channels"], "n_mels": r.model["n_mels"],
                        "macs_per_s": r.macs / r.window_seconds,
                        "int8_outputs_per_s": r.engine.int8_outputs_per_window / r.window_seconds,
                        "engine_instructions_per_s": run["instructions_per_audio_second"]["engine"],
                        "frontend_instructions_per_s": run["instructions_per_audio_second"]["frontend"]}
    a = np.array([[v["macs_per_s"], v["int8_outputs_per_s"]] for v in models.values()])
    y = np.array([v["engine_instructions_per_s"] for v in models.values()])
    (per_mac, per_output), *_ = np.linalg.lstsq(a, y, rcond=None)
    for v, p in zip(models.values(), a @ np.array([per_mac, per_output])):
        v["fit_error"] = round(float(p / v["engine_instructions_per_s"] - 1), 4)
        v["per_mac_alone"] = round(v["engine_instructions_per_s"] / v["macs_per_s"], 3)
    return {"per_mac": round(float(per_mac), 3), "per_output": round(float(per_output), 1), "models": models}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--fit", action="store_true", help="also fit the engine's rates over six models (converts)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from mcu_toolkit import resources
    from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16
    from mcu_toolkit.bundle import Bundle
    from mcu_toolkit.verify.device import write_wav

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            from mcu_toolkit.convert import convert

            bundle = convert(out=work / "bundle", progress=False).out
        report = Bundle.open(bundle).report
        clips = list_audio(resources.default_eval_dir())
        windows = []
        for f in clips[-CLIPS:]:
            windows += cut_windows(load_audio(f), report.window_samples)[0]
        write_wav(work / "clips.wav", np.concatenate([to_pcm16(w) for w in windows]))
        seconds = len(windows) * report.window_samples / 16000
        builds = {opt.strip("-"): measure(bundle, work / "clips.wav", seconds, work / opt.strip("-"), opt)
                  for opt in ("-O2", "-Os")}
        result = {"device": DEVICE, "core": "rv32imc", "window_s": report.window_seconds, "audio_seconds": seconds,
                  "windows": len(windows),
                  "note": "QEMU -icount, minstret: instructions retired (not cycles) on rv32imc, the portable C "
                          "kernels, soft float; image: flash = text + data, RAM = data + bss (with the 8 KiB stack)",
                  "rv32imc_instructions_per_audio_second": builds["O2"]["instructions_per_audio_second"],
                  "builds": builds}
        if args.fit:
            two = [cut_windows(load_audio(f), 32000)[0][0] for f in (clips[-1], clips[-2])]
            write_wav(work / "two.wav", np.concatenate([to_pcm16(w) for w in two]))
            result["rates"] = fit(work / "fit", work / "two.wav", 2.0 * len(two), bundle)
    emit(result, args.json)


if __name__ == "__main__":
    main()

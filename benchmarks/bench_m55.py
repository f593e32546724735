#!/usr/bin/env python3
"""The pipeline on a Cortex-M55 with Helium: the qemu-m55 image's instruction counts, per layer and per second of
audio, its flash and RAM, and the engine's two rates for firmware/speed.py (cores.py's QEMU_M55).

    python benchmarks/bench_m55.py [--bundle DIR] [--seconds 24] [--fit] [--json PATH]

Converts the embedded default (or takes --bundle), builds the qemu-m55 image (-O2, the Helium kernels of
w2s_engine_conv_mve.c) and runs it on QEMU's mps3-an547 with -icount (SysTick: 32 ticks per 1,000 instructions)
over the first --seconds of the held-out clips, cut into whole windows. --fit also converts seeded random
checkpoints of other widths (bench_speed_model.py's) and fits, by least squares over all the models,

    engine instructions per second of audio = per_mac * MACs per second + per_output * int8 outputs per second
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import emit  # noqa: E402
from bench_speed_model import SHAPES, _checkpoint  # noqa: E402


def _audio(work: Path, seconds: float) -> tuple[Path, float]:
    """Whole 2 s windows of the held-out clips, one after another, as one WAV: (path, seconds it holds)."""
    from mcu_toolkit import resources
    from mcu_toolkit.audio import cut_windows, list_audio, load_audio, to_pcm16
    from mcu_toolkit.verify.device import write_wav

    windows = []
    for f in list_audio(resources.default_eval_dir()):
        windows += list(cut_windows(load_audio(f), 32000)[0])
        if 2.0 * len(windows) >= seconds:
            break
    windows = windows[:max(1, int(seconds // 2))]
    write_wav(work / "clips.wav", np.concatenate([to_pcm16(w) for w in windows]))
    return work / "clips.wav", 2.0 * len(windows)


def _elf_sizes(elf: Path) -> dict:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}
    flash = sec[".text"] + sec.get(".ARM.exidx", 0) + sec.get(".data", 0)
    ram = sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".heap", 0) + sec.get(".stack", 0)
    kept = (".text", ".ARM.exidx", ".data", ".bss", ".heap", ".stack")
    return {"flash_bytes": flash, "ram_bytes": ram, "sections": {k: v for k, v in sec.items() if k in kept}}


def _measure(bundle: Path, work: Path, wav: Path, seconds: float) -> dict:
    from mcu_toolkit.bundle import read_report
    from mcu_toolkit.verify.device import DEVICES, build_image, run_image

    elf = build_image(bundle, work / "img", device=DEVICES["qemu-m55"])
    run = run_image(elf, wav, device=DEVICES["qemu-m55"])
    r = read_report(bundle)
    fe, eng = 1000 * sum(run.frontend_kinstr) / seconds, 1000 * sum(run.engine_kinstr) / seconds
    layers = [round(1000 * k / seconds / 1e6, 3) for k in run.profile_kinstr]
    return {"channels": r.model["channels"], "n_mels": r.model["n_mels"],
            "macs_per_s": r.macs / r.window_seconds,
            "int8_outputs_per_s": r.engine.int8_outputs_per_window / r.window_seconds,
            "instructions_per_audio_second": {"frontend": round(fe), "engine": round(eng), "total": round(fe + eng)},
            "engine_layers_M_per_s": {**{f"layer{k}": v for k, v in enumerate(layers[:-1])}, "pool": layers[-1]},
            "stack_high_water": run.stack_high_water, "engine_state": run.engine_state,
            "image": _elf_sizes(elf)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="a convert bundle (default: convert the embedded default)")
    ap.add_argument("--seconds", type=float, default=24.0, help="audio to run (whole 2 s windows)")
    ap.add_argument("--fit", action="store_true", help="also models of other widths, and fit the two rates")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from mcu_toolkit.convert import convert

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav, seconds = _audio(work, args.seconds)
        bundle = args.bundle or convert(out=work / "default" / "bundle", progress=False).out
        models = {"default": _measure(Path(bundle), work / "default", wav, seconds)}
        if args.fit:
            for c, m in SHAPES:
                name = f"random_c{c}_m{m}"
                b = convert(_checkpoint(c, m, work / name / "ck"), out=work / name / "bundle", progress=False).out
                models[name] = _measure(b, work / name, wav, seconds)
    result = {"note": "QEMU -icount instruction counts of the qemu-m55 image (mps3-an547, -O2, Helium kernels), "
                      f"{seconds:g} s of held-out audio in 2 s windows", **models.pop("default")}
    if models:
        all_models = {"default": result, **models}
        a = np.array([[v["macs_per_s"], v["int8_outputs_per_s"]] for v in all_models.values()])
        y = np.array([v["instructions_per_audio_second"]["engine"] for v in all_models.values()])
        (per_mac, per_output), *_ = np.linalg.lstsq(a, y, rcond=None)
        for v, p in zip(all_models.values(), a @ np.array([per_mac, per_output])):
            v["fit_error"] = round(float(p / v["instructions_per_audio_second"]["engine"] - 1), 4)
        result["fit"] = {"per_mac": round(float(per_mac), 3), "per_output": round(float(per_output), 1),
                         "per_mac_alone_default": round(float(y[0] / a[0, 0]), 3),
                         "models": {k: {kk: v[kk] for kk in ("channels", "n_mels", "macs_per_s", "int8_outputs_per_s",
                                                              "instructions_per_audio_second", "fit_error")}
                                    for k, v in models.items()}}
    emit(result, args.json)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The firmware on an emulated Cortex-M4: instructions per second of audio (front end, engine, per layer),
and the qemu-f411 image's flash, RAM and stack from the linked ELF.

    python benchmarks/bench_device_speed.py [--bundle DIR] [--json benchmarks/results/device_speed.json]

Runs the qemu-f411 image (firmware --board qemu-f411) under qemu-system-arm -M netduinoplus2 -icount shift=0
on four held-out clips, built -O2 (what the project's Makefile uses) and -Os, each with the DSP kernels
(SMLAD, what a Cortex-M4 build selects) and the portable C (-DW2S_ENGINE_PORTABLE). Counts are instructions,
not cycles: a real F411 adds flash wait states and multi-cycle loads. Without --bundle the embedded
default is converted at 2 s first.
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

CLIPS = 4


def elf_budget(elf: Path) -> dict:
    size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {ln.split()[0]: int(ln.split()[1]) for ln in size.splitlines() if ln.startswith(".")}
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    sym = {ln.split()[-1]: ln.split() for ln in nm.splitlines()}
    biggest = {}
    for name in ("g_frames_db_q7", "g_dc_bins_q7", "g_engine", "g_ring_storage"):
        if name in sym and len(sym[name]) == 4:
            biggest[name] = int(sym[name][1], 16)
    flash = sec[".text"] + sec.get(".ARM.exidx", 0) + sec[".data"]
    return {"flash_bytes": flash, "flash_limit": 512 * 1024, "data_bytes": sec[".data"], "bss_bytes": sec[".bss"],
            "heap_bytes": sec[".heap"], "stack_bytes": sec[".stack"],
            "ram_bytes": sec[".data"] + sec[".bss"] + sec[".heap"] + sec[".stack"], "ram_limit": 128 * 1024,
            "ram_free_bytes": int(sym["__ram_free"][0], 16), "static_buffers": biggest}


def measure(bundle: Path, opt: str, wav: Path, seconds: float, work: Path, portable: bool = False) -> dict:
    from mcu_toolkit.verify.device import build_image, run_image

    elf = build_image(bundle, work / (opt.strip("-") + ("_portable" if portable else "")), opt=opt,
                      extra_cflags="-DW2S_ENGINE_PORTABLE" if portable else "")
    run = run_image(elf, wav)
    per_s = lambda k: round(1000 * k / seconds)  # noqa: E731  kinstr -> instructions per second of audio
    fe, en = sum(run.frontend_kinstr), sum(run.engine_kinstr)
    layers = {f"layer{i}": per_s(k) for i, k in enumerate(run.profile_kinstr[:-1])}
    layers["lin_sof_pool"] = per_s(run.profile_kinstr[-1])
    return {"instructions_per_audio_second": {"frontend": per_s(fe), "engine": per_s(en), "total": per_s(fe + en)},
            "engine_per_layer": layers, "stack_high_water_bytes": run.stack_high_water,
            "engine_state_bytes": run.engine_state, "elf": elf_budget(elf),
            "real_time_factor_at_100MHz_1IPC": round(100e6 / per_s(fe + en), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
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
        windows = []
        for f in list_audio(resources.default_eval_dir())[-CLIPS:]:
            windows += cut_windows(load_audio(f), report.window_samples)[0]
        wav = work / "clips.wav"
        write_wav(wav, np.concatenate([to_pcm16(w) for w in windows]))
        seconds = len(windows) * report.window_samples / 16000
        builds = {f"{opt.strip('-')}_{kind}": measure(bundle, opt, wav, seconds, work, kind == "portable")
                  for opt in ("-O2", "-Os") for kind in ("dsp", "portable")}
    result = {"window_s": report.window_seconds, "audio_seconds": seconds, "windows": len(windows),
              "note": "QEMU -icount instruction counts (not cycles), Cortex-M4F; dsp = the SMLAD kernels the "
                      "firmware uses, portable = -DW2S_ENGINE_PORTABLE",
              "m4_instructions_per_audio_second": builds["O2_dsp"]["instructions_per_audio_second"],
              "builds": builds}
    emit(result, args.json)


if __name__ == "__main__":
    main()

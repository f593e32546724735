#!/usr/bin/env python3
"""The firmware on emulated cores: instructions per second of audio (front end, engine, per layer), and each
image's flash and RAM from the linked ELF. The Cortex-M4 in detail (builds, stack, cycles); every other
`validate --device` (verify/device.py DEVICES: the M55 with Helium, rv32imc) in the `cores` section.

    python benchmarks/bench_device_speed.py [--bundle DIR] [--cycles] [--cores-only]
                                            [--json benchmarks/results/device_speed.json]

Runs the qemu-f411 image (firmware --board qemu-f411) under qemu-system-arm -M netduinoplus2 -icount shift=0
on four held-out clips, built -O2 (what the project's Makefile uses) and -Os, each with the DSP kernels
(SMLAD, what a Cortex-M4 build selects) and the portable C (-DW2S_ENGINE_PORTABLE). Counts are instructions,
not cycles: a real F411 adds flash wait states and multi-cycle loads. With --cycles, each build also runs
without -icount on the first window under a trace that is costed with the Cortex-M4 TRM's timings
(mcu_toolkit/verify/cycles.py): cycles per instruction and per second of audio; the -O2 DSP build also on two
windows, to show the figure does not depend on the clip's length. Without --bundle the embedded default is
converted at 2 s first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import emit  # noqa: E402

CLIPS = 4
CORE_KEYS = {"qemu-m4": "cortex-m4", "qemu-m55": "cortex-m55", "qemu-rv32": "rv32imc"}  # `cores`' keys


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


def traced_cycles(elf: Path, wav: Path, seconds: float) -> dict:
    """Cycles per instruction and per second of audio, by part, from a trace of the image on `wav`."""
    from mcu_toolkit.verify.cycles import cost, pipeline, trace_image

    parts = pipeline(cost(trace_image(elf, wav)))
    return {"cycles_per_instruction": {k: round(p.per_instruction, 4) for k, p in parts.items()},
            "cycles_per_audio_second": {k: round(p.cycles / seconds) for k, p in parts.items()},
            "traced_audio_seconds": seconds}


def image_size(elf: Path, size_tool: str) -> dict:
    """Flash (text + data) and static RAM (data + bss, which holds the stack and heap where the linker script
    reserves them there) of any core's ELF, from `size -B`."""
    out = subprocess.run([size_tool, "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"flash_bytes": text + data, "ram_bytes": data + bss}


def figures(run, seconds: float) -> dict:
    """A run's instructions per second of audio, in total and per layer."""
    per_s = lambda k: round(1000 * k / seconds)  # noqa: E731  kinstr -> instructions per second of audio
    fe, en = sum(run.frontend_kinstr), sum(run.engine_kinstr)
    layers = {f"layer{i}": per_s(k) for i, k in enumerate(run.profile_kinstr[:-1])}
    if run.profile_kinstr:
        layers["lin_sof_pool"] = per_s(run.profile_kinstr[-1])
    return {"instructions_per_audio_second": {"frontend": per_s(fe), "engine": per_s(en), "total": per_s(fe + en)},
            "engine_per_layer": layers}


def measure(bundle: Path, opt: str, wav: Path, seconds: float, work: Path, portable: bool = False,
            trace: tuple[Path, float] | None = None) -> dict:
    from mcu_toolkit.verify.device import build_image, run_image

    elf = build_image(bundle, work / (opt.strip("-") + ("_portable" if portable else "")), opt=opt,
                      extra_cflags="-DW2S_ENGINE_PORTABLE" if portable else "")
    run = run_image(elf, wav)
    fig = figures(run, seconds)
    return {**fig, "stack_high_water_bytes": run.stack_high_water,
            "engine_state_bytes": run.engine_state, "elf": elf_budget(elf),
            "real_time_factor_at_100MHz_1IPC": round(100e6 / fig["instructions_per_audio_second"]["total"], 3),
            **(traced_cycles(elf, *trace) if trace else {})}


def other_core(bundle: Path, name: str, wav: Path, seconds: float, work: Path) -> dict:
    """One emulated core other than the M4: its board's image, -O2, its own kernel family."""
    from mcu_toolkit.firmware.boards import BOARDS
    from mcu_toolkit.verify.device import DEVICES, build_image, run_image

    device = DEVICES[name]
    elf = build_image(bundle, work / name, device=device)
    fig = figures(run_image(elf, wav, device=device), seconds)
    size_tool = device.tools[0].removesuffix("gcc") + "size"
    return {"device": name, "board": device.board, "cpu": BOARDS[device.board].core, **fig,
            "image": image_size(elf, size_tool)}


def cycle_model(elf: Path, two_windows: tuple[Path, float], one_window: tuple[float, float]) -> dict:
    """The model's timings, and how the -O2 DSP pipeline's figure moves with the clip's length (one window's
    (seconds, figure) against two windows') and with the pipeline refill P (1..3, on two windows)."""
    from dataclasses import asdict

    from mcu_toolkit.verify.cycles import M4, Timing, cost, pipeline, trace_image

    trace = trace_image(elf, two_windows[0])
    by_refill = {p: round(pipeline(cost(trace, Timing(refill=p)))["pipeline"].per_instruction, 4) for p in (1, 2, 3)}
    return {"timing": asdict(M4), "pipeline_cycles_per_instruction_by_refill": by_refill,
            "pipeline_cycles_per_instruction_by_clip_seconds": {one_window[0]: one_window[1],
                                                                two_windows[1]: by_refill[M4.refill]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cycles", action="store_true", help="also cost a trace of each build (several minutes)")
    ap.add_argument("--cores-only", action="store_true",
                    help="rerun only the cores other than the M4, into the `cores` of an existing --json")
    args = ap.parse_args()
    if args.cores_only and (args.json is None or not args.json.exists()):
        ap.error("--cores-only updates an existing --json file")
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
        wavs = {}
        for n in (len(windows), 1, 2):
            wavs[n] = (work / f"clips{n}.wav", n * report.window_samples / 16000)
            write_wav(wavs[n][0], np.concatenate([to_pcm16(w) for w in windows[:n]]))
        wav, seconds = wavs[len(windows)]
        if args.cores_only:
            from mcu_toolkit.verify.device import DEVICES

            result = json.loads(args.json.read_text())
            for name in DEVICES:
                if name != "qemu-m4":
                    result["cores"][CORE_KEYS.get(name, name)] = other_core(bundle, name, wav, seconds, work)
            emit(result, args.json)
            return
        start = time.perf_counter()
        builds = {f"{opt.strip('-')}_{kind}": measure(bundle, opt, wav, seconds, work, kind == "portable",
                                                      wavs[1] if args.cycles else None)
                  for opt in ("-O2", "-Os") for kind in ("dsp", "portable")}
        from mcu_toolkit.verify.device import DEVICES

        m4 = builds["O2_dsp"]
        cores = {"cortex-m4": {"device": "qemu-m4", "board": "qemu-f411", "cpu": "cortex-m4f",
                               **{k: m4[k] for k in ("instructions_per_audio_second", "engine_per_layer")},
                               "image": {"flash_bytes": m4["elf"]["flash_bytes"], "ram_bytes": m4["elf"]["ram_bytes"]}}}
        for name in DEVICES:
            if name != "qemu-m4":
                cores[CORE_KEYS.get(name, name)] = other_core(bundle, name, wav, seconds, work)
        if args.cycles:
            one = (wavs[1][1], builds["O2_dsp"]["cycles_per_instruction"]["pipeline"])
            model = {**cycle_model(work / "O2" / "qemu-f411" / "w2s.elf", wavs[2], one),
                     "benchmark_wall_s": round(time.perf_counter() - start)}
    result = {"window_s": report.window_seconds, "audio_seconds": seconds, "windows": len(windows),
              "note": "QEMU -icount instruction counts (not cycles), Cortex-M4F; dsp = the SMLAD kernels the "
                      "firmware uses, portable = -DW2S_ENGINE_PORTABLE; cycles_*: a trace of the first window "
                      "costed with the Cortex-M4 TRM's timings (mcu_toolkit/verify/cycles.py)",
              "m4_instructions_per_audio_second": builds["O2_dsp"]["instructions_per_audio_second"],
              "cores": cores, "builds": builds, **({"cycle_model": model} if args.cycles else {})}
    emit(result, args.json)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fixed-point front end: accuracy vs float, Cortex-M4 cost in QEMU, and CCC drift side by side.

    python benchmarks/bench_frontend.py [--bundle DIR] [--json benchmarks/results/frontend.json]

- accuracy: |fixed - float| in dB over speech frames (frames within 60 dB of their window's max)
  of every 2 s window of calibration_audio (calibration + held-out);
- levels: the held-out clips scaled to peaks of -6 to -70 dBFS (and quantised to 16 bits, as a microphone
  gives them): the front end's error over every value at each level, and CCC of the deployed pipeline
  (fixed front end -> the w2s engine) against the float model at each level; plus a constant input and
  1 LSB noise, deployed outputs against float;
- cost: instructions per second of audio, from qemu-system-arm -M mps2-an386 -icount shift=0
  (1 instruction = 1 ns of virtual time) read with the CMSDK timer (25 MHz, 40 instructions a tick),
  around push + finish + quantize only; code and table bytes from arm-none-eabi-size; plus the
  instructions per frame of each stage (block, window, FFT, power, mel, log; benchmarks/c/fe_stages.c);
- drift: CCC of the deployed pipeline (front end -> int8 on TFLM) against the float model on the
  held-out clips, with the float front end, with the fixed one, and with the fixed one in streaming
  mode (each window finished with the previous window's statistics) on the held-out clips played
  back to back.
Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm for the cost figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import cbuild  # noqa: E402
from _report import emit  # noqa: E402
from mcu_toolkit import resources  # noqa: E402
from mcu_toolkit.audio import at_peak_dbfs, cut_windows, list_audio, load_audio, load_windows, to_pcm16  # noqa: E402,E501
from mcu_toolkit.cores import code_bytes  # noqa: E402
from mcu_toolkit.dsp import fixed, float_ref  # noqa: E402
from mcu_toolkit.verify.ccc import ccc_per_dim  # noqa: E402

def accuracy() -> dict:
    errs = []
    for d in (resources.default_calibration_dir(), resources.default_eval_dir()):
        for f in list_audio(d):
            for w in cut_windows(load_audio(f), 32000)[0]:
                pcm = to_pcm16(w)
                fx = fixed.window_logmel_q7(pcm) / 128.0
                fl = float_ref.logmel_float(pcm / 32768.0)
                frames = fl.max(axis=1) > fl.max() - 60
                errs.append(np.abs(fx - fl)[frames].ravel())
    e = np.concatenate(errs)
    return {"values": int(e.size), "mae_db": round(float(e.mean()), 5),
            "p99_db": round(float(np.percentile(e, 99)), 4), "max_db": round(float(e.max()), 3)}


LEVELS_DBFS = (-6, -20, -40, -50, -60, -70)


def level_accuracy() -> dict:
    clips = [load_audio(f) for f in list_audio(resources.default_eval_dir())]
    out = {}
    for level in LEVELS_DBFS:
        e = np.concatenate([np.abs(fixed.window_logmel_q7(to_pcm16(w)) / 128.0
                                   - float_ref.logmel_float(to_pcm16(w) / 32768.0)).ravel()
                            for x in clips for w in cut_windows(at_peak_dbfs(x, level), 32000)[0]])
        out[f"{level}dBFS"] = {"values": int(e.size), "mae_db": round(float(e.mean()), 5),
                               "p99_db": round(float(np.percentile(e, 99)), 4), "max_db": round(float(e.max()), 3)}
    return out


def level_drift(bundle: Path) -> dict:
    """CCC(deployed, float) per peak level (fixed front end -> w2s engine mirror, bit-exact with the C), and
    the largest output error on a constant input and on 1 LSB noise."""
    import torch

    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head
    from mcu_toolkit.model import load_checkpoint
    from mcu_toolkit.verify.deployed import engine_window

    model = load_checkpoint(resources.default_checkpoint())
    head = Head.from_json((bundle / "engine_head.json").read_text(), "engine_head.json")
    eng = Engine.from_tflite((bundle / "model_int8.tflite").read_bytes(), head)
    clips = [load_audio(f) for f in list_audio(resources.default_eval_dir())]

    def both(windows):
        with torch.no_grad():
            f = model(torch.from_numpy(np.stack(windows))).numpy().mean(axis=0)
        return f, np.mean([engine_window(eng, w, "fixed", 26) for w in windows], axis=0)

    out = {"clips": len(clips)}
    for level in LEVELS_DBFS:
        f, d = zip(*(both(cut_windows(at_peak_dbfs(x, level), 32000)[0]) for x in clips))
        out[f"ccc_{level}dBFS"] = {k: round(v, 5) for k, v in ccc_per_dim(np.array(d), np.array(f)).items()}
    rng = np.random.default_rng(0)
    lsb = rng.integers(-1, 2, 32000)
    for name, pcm in (("constant_1000", np.full(32000, 1000)), ("constant_-20000", np.full(32000, -20000)),
                      ("lsb_noise", lsb), ("lsb_noise_plus_300", 300 + lsb)):
        f, d = both([pcm.astype(np.float32) / 32768.0])
        out[f"max_abs_err_{name}"] = round(float(np.max(np.abs(d - f))), 4)
    return out


def m4_cost(work: Path) -> dict:
    import fe_build

    srcs = fe_build.write_sources(work)
    files = {p.name: p.read_text() for p in work.iterdir() if p.suffix in (".c", ".h")}
    pcm = np.concatenate([to_pcm16(load_audio(f)) for f in list_audio(resources.default_eval_dir())])
    (work / "in.s16").write_bytes(pcm.tobytes())
    out = {}
    for opt in ("-O2", "-Os"):
        v = run_m4(work / f"bench{opt}.elf", [*srcs, ROOT / "benchmarks/c/fe_bench.c"], opt,
                   [str(work / "in.s16"), "32000"])
        seconds = v["samples"] / 16000
        out[opt] = {
            "audio_seconds": seconds,
            "instructions_per_audio_second": round(v["ticks"] * 40 / seconds),
            "share_push_frames": round(v["push_ticks"] / v["ticks"], 3),
            "share_finish": round((v["finish_cum_ticks"] - v["push_ticks"]) / v["ticks"], 3),
            "share_quantize": round(1 - v["finish_cum_ticks"] / v["ticks"], 3),
            "code_bytes": code_bytes(files, "w2s_frontend.c", "cortex-m4f", opt),
        }
    out["frame_stages_O2"] = frame_stages(work)
    from mcu_toolkit.emit.c_frontend import STATE_BYTES, table_bytes, window_buffer_bytes
    from mcu_toolkit.spec import frames

    out["table_bytes"] = table_bytes(fixed.tables())
    out["state_bytes"] = STATE_BYTES
    out["window_buffer_bytes_2s"] = window_buffer_bytes(fixed.tables(), frames(32000))
    return out


def run_m4(elf: Path, sources: list[Path], opt: str, args: list[str] | None = None) -> dict[str, int]:
    """Build sources (with the front end's headers from elf's folder) for the Cortex-M4, run them in QEMU
    with -icount, and parse the "name value ..." line they print."""
    cbuild.build(sources, elf, cbuild.QEMU_CORE, opt=opt, includes=[elf.parent])
    r = cbuild.run_qemu(elf, args, icount=True, timeout=600)
    return dict(zip(r.stdout.split()[0::2], map(int, r.stdout.split()[1::2])))


STAGES = ("block", "window", "fft", "power", "mel", "log")  # frame()'s stages in w2s_frontend.c, in order


def frame_stages(work: Path) -> dict:
    """Instructions per frame (one frame per 32 samples) by stage, -O2: where the cost is. Each stage is timed
    as its own call; "rest" is what frame() costs beyond their sum (negative: inlining saves more)."""
    v = run_m4(work / "stages.elf", [work / "w2s_frontend_tables.c", ROOT / "benchmarks/c/fe_stages.c"], "-O2")
    v["rest"] = v["frame"] - sum(v[k] for k in STAGES)
    return {"instructions_per_frame": v,
            "share_of_frame": {k: round(v[k] / v["frame"], 3) for k in (*STAGES, "rest")}}


def drift(bundle: Path) -> dict:
    import torch

    from mcu_toolkit.model import load_checkpoint
    from mcu_toolkit.verify import tflm
    from mcu_toolkit.verify.deployed import deployed_window, float_clip_outputs

    report = json.loads((bundle / "report.json").read_text())
    model = load_checkpoint(resources.default_checkpoint())
    dev = tflm.TflmModel((bundle / "model_int8.tflite").read_bytes(), report["arena_bytes"])
    clips = load_windows(list_audio(resources.default_eval_dir()), 32000)
    res = {}
    for kind in ("float", "fixed"):
        f = float_clip_outputs(model, clips)  # the TFLM path: this figure isolates the front end
        d = np.array([np.mean([deployed_window(dev, w, kind, model.config.n_mels) for w in c.windows], axis=0)
                      for c in clips])
        res[f"ccc_{kind}_frontend"] = {k: round(v, 5) for k, v in ccc_per_dim(d, f).items()}
    # streaming: all held-out clips back to back, each window finished with the previous window's stats
    stream = np.concatenate([to_pcm16(load_audio(p)) for p in list_audio(resources.default_eval_dir())])
    wins = [stream[i:i + 32000] for i in range(0, len(stream) - 31999, 32000)]
    q = fixed.InputQuant.from_scale(dev.in_scale, dev.in_zero)
    f_out, exact, streaming = [], [], []
    with torch.no_grad():
        for k, w in enumerate(wins):
            f_out.append(model(torch.from_numpy(w.astype(np.float32) / 32768.0)[None])[0].numpy())
            for stats, dest in ((None, exact), (fixed.window_stats(wins[max(k - 1, 0)]), streaming)):
                x = fixed.quantize_s8(fixed.window_logmel_q7(w, stats=stats), q).reshape(tuple(dev.input["shape"]))
                dest.append((dev.run_int8(x).astype(np.float32) - dev.out_zero) * dev.out_scale)
    res["stream_windows"] = len(wins)
    res["ccc_fixed_exact_stream"] = {k: round(v, 5) for k, v in ccc_per_dim(np.array(exact), np.array(f_out)).items()}
    res["ccc_fixed_streaming_prev_window_stats"] = {
        k: round(v, 5) for k, v in ccc_per_dim(np.array(streaming), np.array(f_out)).items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="a convert bundle of the default model (default: convert one)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = {"accuracy": accuracy(), "levels": level_accuracy()}
    with tempfile.TemporaryDirectory() as tmp:
        if cbuild.missing(*cbuild.ARM_TOOLS) is None:
            result["cortex_m4"] = m4_cost(Path(tmp) / "m4")
        bundle = args.bundle
        if bundle is None:
            from mcu_toolkit.convert import convert

            bundle = convert(out=Path(tmp) / "bundle", progress=False).out
        result["drift"] = drift(bundle)
        result["levels_drift"] = level_drift(bundle)
    emit(result, args.json)


if __name__ == "__main__":
    main()

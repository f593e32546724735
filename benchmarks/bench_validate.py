#!/usr/bin/env python3
"""Throughput of `validate`, whole process, and where its time goes, on one core (taskset -c 0) unless said.

    python benchmarks/bench_validate.py [--bundle DIR] [--json PATH] [--baseline tests/data/baseline_default.json]
                                        [--quick]

- corpora: 10 min (20 files of 30 s) and 60 min (120 files), made from the held-out clips (calibration_audio/heldout,
  tiled); `mcu-toolkit validate` runs on them as a subprocess, its wall time and peak RSS (wait4) recorded.
  x_real_time_1core_long: the 10 min corpus, the compiled engine warm in its cache, median of 3.
- paths: ms per 2 s window of each way to run the model, side by side in this one run, median of 5 passes over
  the same 24 windows: onnxruntime and LiteRT on the float model, LiteRT int8 (XNNPACK), the w2s engine compiled
  for this host (engine_ms_per_window) and as its numpy mirror, TFLM. ort_batch: onnxruntime's ms per window at
  batches of 1 to 64 (the ONNX given a free batch dimension), and whether the outputs are the same bits.
- stages: ms per window of each step inside validate's host path.
- heldout: validate's CCC figures on the held-out set (--baseline rewrites the committed regression baseline).
--quick skips the 60 min corpus. Wall times are this machine's, noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from _report import cpu_model, emit  # noqa: E402
from mcu_toolkit import resources, validate  # noqa: E402

ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []
CLI = [sys.executable, "-c", "import sys; from mcu_toolkit.cli import main; sys.exit(main())"]


def corpus(folder: Path, files: int, seconds: float = 30.0) -> float:
    """`files` clips of `seconds`, each the held-out clips end to end from its own offset; the total seconds."""
    clips = [sf.read(f, dtype="int16")[0] for f in sorted(resources.default_eval_dir().glob("*.flac"))]
    whole = np.concatenate(clips)
    n = int(seconds * 16000)
    folder.mkdir(parents=True)
    for i in range(files):
        x = np.roll(whole, -(i * 7 * n) % len(whole))
        sf.write(folder / f"clip{i:03d}.flac", np.tile(x, -(-n // len(x)))[:n], 16000, subtype="PCM_16")
    return files * seconds


def run_cli(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one `mcu-toolkit` process, on one core."""
    t = time.perf_counter()
    p = subprocess.Popen([*ONE_CORE, *CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mcu-toolkit {' '.join(args)} failed: {p.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def median_ms(fn, windows: int, passes: int = 5) -> float:
    fn()  # warm: first-call allocations, caches
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) / windows * 1e3, 3)


def batched_onnx(path: Path) -> bytes:
    """model.onnx with a free batch dimension: its Reshapes' leading 1 made -1 (the export fixes batch 1)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = onnx.load(str(path))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in shape_inference.infer_shapes(m).graph.value_info}
    reshape_shapes = {n.input[1]: n.output[0] for n in m.graph.node if n.op_type == "Reshape"}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output[0] in reshape_shapes:
            t = numpy_helper.to_array(n.attribute[0].t).copy()
            if -1 in t[1:]:
                t = np.array([-1, *shapes[reshape_shapes[n.output[0]]][1:]], dtype=np.int64)
            t[0] = -1
            n.attribute[0].t.CopyFrom(numpy_helper.from_array(t))
    for v in (m.graph.input[0], m.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    return m.SerializeToString()


def paths_and_stages(bundle: Path, corpus: Path) -> dict:
    """ms per window of each model path and of each step inside validate, in this process (pinned to one core)."""
    from ai_edge_litert.interpreter import Interpreter

    from mcu_toolkit import bundle as bundle_mod
    from mcu_toolkit.audio import WindowStream, to_pcm16
    from mcu_toolkit.dsp import float_ref
    from mcu_toolkit.verify.deployed import device_input_s8, engine_window, tflm_step
    from mcu_toolkit.verify.tflm import TflmModel
    from mcu_toolkit.verify.validation import _file_models, _float_session, _host_pipeline

    b = bundle_mod.Bundle.open(bundle)
    rep = b.report
    host = _host_pipeline(b, "w2s")
    m = _file_models(str(bundle))
    engine = m["dev"]
    clip = sorted(resources.default_eval_dir().glob("*.flac"))
    ws = np.concatenate([blk for f in clip for blk in WindowStream(f, rep.window_samples)])[:24]
    n = len(ws)
    q = engine.graph.input
    x8 = np.stack([device_input_s8(w, "fixed", rep.n_mels, q.scale, q.zero) for w in ws])
    logmel = float_ref.logmel_float_windows(ws, rep.n_mels).astype(np.float32)[:, None]
    sess = _float_session(b.path / "model.onnx")
    tflm = TflmModel((b.path / "model_int8.tflite").read_bytes(), arena_size=rep.arena_bytes)

    def litert(name: str):
        it = Interpreter(model_path=str(b.path / name), num_threads=1)
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        xs = logmel.reshape(n, *i["shape"][1:]) if i["dtype"] == np.float32 else x8.reshape(n, *i["shape"][1:])

        def run():
            for x in xs:
                it.set_tensor(i["index"], x[None])
                it.invoke()
                it.get_tensor(o["index"])
        return run

    paths = {
        "onnxruntime_float": median_ms(lambda: [sess.run(None, {"logmel": x[None]}) for x in logmel], n),
        "litert_float32": median_ms(litert("model_float32.tflite"), n),
        "litert_int8_xnnpack": median_ms(litert("model_int8.tflite"), n),
        "w2s_engine_compiled": median_ms(lambda: host.engine_f32(x8), n) if host is not None else None,
        "w2s_engine_numpy_mirror": median_ms(lambda: [engine.run(x) for x in x8], n, passes=3),
        "tflm": median_ms(lambda: [tflm_step(tflm, x) for x in x8], n, passes=3),
    }
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    bsess = ort.InferenceSession(batched_onnx(b.path / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    one = np.concatenate([bsess.run(None, {"logmel": x[None]})[0] for x in logmel])
    ort_batch = {}
    for k in (1, 4, 8, 16, 24):
        out = []
        ms = median_ms(lambda: out.append(np.concatenate([bsess.run(None, {"logmel": logmel[i:i + k]})[0]
                                                          for i in range(0, n, k)])), n)
        ort_batch[str(k)] = {"ms_per_window": ms, "same_bits_as_batch_1": bool(np.array_equal(
            out[-1].view(np.uint32), one.view(np.uint32)))}
    pcm = to_pcm16(ws)
    long = sorted(corpus.glob("*.flac"))[:4]
    stages = {
        "read_16k_flac": median_ms(lambda: [list(WindowStream(f, rep.window_samples)) for f in long],
                                   sum(len(blk) for f in long for blk in WindowStream(f, rep.window_samples))),
        "float_logmel": median_ms(lambda: float_ref.logmel_float_windows(ws, rep.n_mels), n),
        "onnxruntime_float": paths["onnxruntime_float"],
        "frontend_fixed_compiled": median_ms(lambda: host.input_s8(pcm), n) if host is not None else None,
        "frontend_plus_engine_compiled": median_ms(lambda: host.windows_f32(pcm), n) if host is not None else None,
        "frontend_plus_engine_numpy_mirror": median_ms(lambda: [engine_window(engine, w, "fixed", rep.n_mels)
                                                                for w in ws], n, passes=3),
    }
    return {"windows": n, "paths_ms_per_window": paths, "ort_batch": ort_batch, "stages_ms_per_window": stages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--quick", action="store_true", help="skip the 60 min corpus")
    ap.add_argument("--in-process", type=Path, help=argparse.SUPPRESS)  # the pinned child below: a corpus
    args = ap.parse_args()
    if args.in_process:
        print(json.dumps(paths_and_stages(args.bundle, args.in_process)))
        return
    audio = resources.default_eval_dir()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = args.bundle
        if bundle is None:  # in a process of its own: a child forked from a big parent reports its peak RSS
            bundle = tmp / "b"
            run_cli(["convert", "--out", str(bundle), "--quiet"])
        cache = {"MCU_TOOLKIT_CACHE": str(tmp / "cache")}
        out: dict = {"cpu": cpu_model(), "one_core": bool(ONE_CORE)}
        cold, _ = run_cli(["validate", str(bundle), "--audio", str(audio)], cache)  # builds the engine: cold
        warm, _ = run_cli(["validate", str(bundle), "--audio", str(audio)], cache)
        out["heldout_116s_wall_s"] = {"cold_cache": round(cold, 2), "warm": round(warm, 2)}
        seconds10 = corpus(tmp / "c10", 20)
        runs = [run_cli(["validate", str(bundle), "--audio", str(tmp / "c10")], cache) for _ in range(3)]
        wall10 = statistics.median(r[0] for r in runs)
        out["x_real_time_1core_long"] = round(seconds10 / wall10, 1)
        out["corpus_10min"] = {"audio_s": seconds10, "wall_s": round(wall10, 3),
                               "peak_rss_mib": round(max(r[1] for r in runs), 1)}
        two = run_two_cores(["validate", str(bundle), "--audio", str(tmp / "c10"), "--jobs", "2"], cache)
        out["corpus_10min"]["jobs2_2cores_x_real_time"] = round(seconds10 / two, 1)
        tflm, _ = run_cli(["validate", str(bundle), "--audio", str(tmp / "c10"), "--engine", "tflm"], cache)
        out["corpus_10min"]["tflm_x_real_time"] = round(seconds10 / tflm, 1)
        if not args.quick:
            seconds60 = corpus(tmp / "c60", 120)
            wall60, rss60 = run_cli(["validate", str(bundle), "--audio", str(tmp / "c60")], cache)
            two60 = run_two_cores(["validate", str(bundle), "--audio", str(tmp / "c60"), "--jobs", "2"], cache)
            out["corpus_60min"] = {"audio_s": seconds60, "wall_s": round(wall60, 2), "peak_rss_mib": round(rss60, 1),
                                   "x_real_time": round(seconds60 / wall60, 1),
                                   "jobs2_2cores_x_real_time": round(seconds60 / two60, 1)}
            out["peak_rss_60min_over_10min"] = round(rss60 / out["corpus_10min"]["peak_rss_mib"], 3)
        child = subprocess.run([*ONE_CORE, sys.executable, __file__, "--in-process", str(tmp / "c10"), "--bundle",
                                str(bundle)],
                               capture_output=True, text=True, env={**os.environ, **cache})
        if child.returncode != 0:
            raise SystemExit(child.stderr[-3000:])
        inner = json.loads(child.stdout.splitlines()[-1])
        out.update(inner)
        out["engine_ms_per_window"] = inner["paths_ms_per_window"]["w2s_engine_compiled"]
        out["ort_float_ms_per_window"] = inner["paths_ms_per_window"]["onnxruntime_float"]
        res = validate(bundle, audio, labels=audio / "targets.csv")
    out["heldout"] = {k: {d: round(v, 5) for d, v in getattr(res, k).items()}
                      for k in ("ccc_vs_float", "ccc_deployed_vs_labels", "ccc_float_vs_labels")}
    emit(out, args.json)
    if args.baseline:
        base = json.loads(args.baseline.read_text()) if args.baseline.exists() else {"tolerance": 0.01}
        base.update({"ccc_deployed_vs_float": out["heldout"]["ccc_vs_float"],
                     "ccc_deployed_vs_labels": out["heldout"]["ccc_deployed_vs_labels"],
                     "ccc_float_vs_labels": out["heldout"]["ccc_float_vs_labels"]})
        args.baseline.write_text(json.dumps(base, indent=2) + "\n")


def run_two_cores(args: list[str], env: dict) -> float:
    """Wall s of one `mcu-toolkit` process free to use every core (for --jobs)."""
    t = time.perf_counter()
    subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env={**os.environ, **env})
    return time.perf_counter() - t


if __name__ == "__main__":
    main()

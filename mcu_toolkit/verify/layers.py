"""`validate --layers`: where quantisation hurts, as each int8 tensor's SNR against the same tensor of the float
TFLite, over a few windows of the audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import bundle as bundle_mod
from ..audio import cut_windows, list_audio, load_audio


def _preserving_interpreters(b: Path):
    """The int8 and float TFLite in LiteRT, every intermediate tensor kept."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    from .tflm import captured_native_stderr

    with captured_native_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LiteRT warns that preserving all tensors is for debugging: it is
        pair = [Interpreter(model_path=str(b / name), experimental_preserve_all_tensors=True)
                for name in ("model_int8.tflite", "model_float32.tflite")]
        for it in pair:
            it.allocate_tensors()
    return pair


def _first_windows(audio, window_samples: int, n: int) -> list[np.ndarray]:
    windows: list[np.ndarray] = []
    for f in list_audio(audio):
        windows += cut_windows(load_audio(f), window_samples)[0]
        if len(windows) >= n:
            break
    return windows[:n]


def _add_tensor_errors(qi, fi, acc: dict) -> None:
    """acc[name] = [index, shape, scale, signal energy, error energy], summed over invocations."""
    f_by_name = {d["name"]: d for d in fi.get_tensor_details()}
    for d in qi.get_tensor_details():
        fd = f_by_name.get(d["name"])
        s_, z_ = d["quantization"]
        if fd is None or s_ == 0 or d["dtype"] != np.int8:
            continue
        try:
            a, qv = fi.get_tensor(fd["index"]), qi.get_tensor(d["index"])
        except ValueError:
            continue
        if a.shape != qv.shape or a.dtype != np.float32:
            continue
        deq = (qv.astype(np.float64) - z_) * s_
        row = acc.setdefault(d["name"], [d["index"], [int(v) for v in qv.shape], float(s_), 0.0, 0.0])
        row[3] += float(np.sum(a.astype(np.float64) ** 2))
        row[4] += float(np.sum((a - deq) ** 2))


def layer_errors(bundle: str | os.PathLike, audio: str | os.PathLike, max_windows: int = 8) -> list[dict]:
    """SNR of every int8 tensor against the same tensor of the float TFLite, over a few windows.

    Both run in LiteRT, which can keep intermediate tensors (TFLM reuses its arena); its int8
    kernels differ from TFLM's by a few LSB at most. Tensors are matched by name and shape.
    """
    from ..dsp import float_ref
    from .deployed import device_input_s8

    b = bundle_mod.Bundle.open(bundle, ("model_int8.tflite", "model_float32.tflite", "report.json"))
    report = b.report
    qi, fi = _preserving_interpreters(b.path)
    q_in, f_in = qi.get_input_details()[0], fi.get_input_details()[0]
    scale, zero = q_in["quantization"]
    acc: dict[str, list] = {}
    for w in _first_windows(audio, report.window_samples, max_windows):
        db = float_ref.logmel_float(w, report.n_mels).astype(np.float32)
        fi.set_tensor(f_in["index"], db[None, :, :, None])
        fi.invoke()
        x = device_input_s8(w, report.frontend_kind, report.n_mels, scale, zero)
        qi.set_tensor(q_in["index"], x.reshape(q_in["shape"]))
        qi.invoke()
        _add_tensor_errors(qi, fi, acc)
    rows = []
    for name, (_, shape, s_, sig, err) in sorted(acc.items(), key=lambda kv: kv[1][0]):
        snr = 10 * np.log10(sig / err) if err > 0 else float("inf")
        rows.append({"tensor": name, "shape": shape, "scale": s_, "snr_db": round(float(snr), 2)})
    return rows


def table(rows: list[dict], n: int = 12) -> str:
    """The n lowest-SNR tensors, as validate prints them."""
    lines = ["per-layer SNR, int8 vs float TFLite (LiteRT), lowest first:"]
    for r in sorted(rows, key=lambda r: r["snr_db"])[:n]:
        lines.append(f"  {r['snr_db']:7.1f} dB  {r['tensor'][:70]}  {tuple(r['shape'])}")
    return "\n".join(lines)

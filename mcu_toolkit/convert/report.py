"""The report: every figure of the run as report.json holds it, and the bundle's files."""

from __future__ import annotations

from importlib import metadata

import numpy as np

from ..bundle import EngineFigures, FrontendFigures, Report, TflmFigures
from ..dsp.fixed import InputQuant
from ..spec import OUTPUT_NAMES, SAMPLE_RATE
from .proof import Proof
from .stages import Exported, Inputs, Quantized, calibrated_levels

VERSIONED_PACKAGES = ("mcu-toolkit", "torch", "numpy", "onnx", "onnxruntime", "onnx2tf", "onnxsim",
                      "onnx-graphsurgeon", "sng4onnx", "tensorflow", "tf-keras", "ai-edge-litert",
                      "tflite-micro", "safetensors", "soundfile", "scipy")



def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out



def _errors(a: np.ndarray, b: np.ndarray, fn) -> dict:
    return {k: round(float(fn(np.abs(a[:, i] - b[:, i]))), 6) for i, k in enumerate(OUTPUT_NAMES)}


def _drift(ccc: dict, out: np.ndarray, float_out: np.ndarray) -> dict:
    """One deployed path against the float model: ccc, drift, mean_abs_err, max_abs_err (report.json's keys)."""
    return {"ccc": {k: round(v, 6) for k, v in ccc.items()}, "drift": {k: round(1.0 - v, 6) for k, v in ccc.items()},
            "mean_abs_err": _errors(out, float_out, np.mean), "max_abs_err": _errors(out, float_out, np.max)}


def make_report(inp: Inputs, feats, ex: Exported, q: Quantized, pr: Proof, min_ccc, timings: dict) -> Report:
    from ..model.wav2small import float_macs

    m, dev = inp.model, pr.dev
    return Report(
        checkpoint=inp.label,
        model={**m.config.to_dict(), "params": m.trainable_parameters(),
               "params_with_frozen_frontend": sum(x.numel() for x in m.parameters())},
        macs=pr.engine.graph.macs(inp.frames) if pr.engine else float_macs(m, inp.frames),
        gram_scale=ex.gram_scale,
        window_seconds=inp.window / SAMPLE_RATE, window_samples=inp.window, frames_per_window=inp.frames,
        input_shape=list(dev.input["shape"].tolist()),
        input_quant={"scale": dev.in_scale, "zero_point": dev.in_zero},
        output_quant={"scale": dev.out_scale, "zero_point": dev.out_zero},
        tflite_bytes=len(q.tflite), onnx_bytes=len(ex.onnx), onnx_max_abs_err_vs_torch=ex.onnx_err,
        tflite_float_max_abs_err_vs_onnx=q.tf_err, arena_bytes=pr.arena, arena_bytes_measured=pr.arena_measured,
        ops=pr.ops, frontend=frontend_figures(pr, inp),
        calibration={"files": len(inp.cal), "windows": int(len(feats)),
                     "padded_files": [c.path.name for c in inp.cal if c.padded],
                     "peak_dbfs": calibrated_levels(inp.cal)},
        eval_files=len(inp.ev), eval_file_names=[c.path.name for c in inp.ev],
        eval_padded_files=[c.path.name for c in inp.ev if c.padded],
        **_drift(pr.ccc, pr.deployed_out, inp.float_out),
        engine=engine_figures(pr, inp),
        tflm=TflmFigures(**_drift(pr.tflm_ccc, pr.tflm_out, inp.float_out), arena_bytes=pr.arena,
                         evaluated_as=pr.tflm_path),
        min_ccc=min_ccc, passed=min_ccc is None or all(v >= min_ccc for v in pr.ccc.values()),
        versions=package_versions(), messages=inp.messages, timings_s=timings)


def frontend_figures(pr: Proof, inp: Inputs) -> FrontendFigures:
    from ..emit.c_frontend import frontend_report
    from ..verify.deployed import fixed_tables

    if inp.frontend != "fixed":
        return FrontendFigures("float", note="calibration and drift use the model's float log-mel; "
                                             "the bundle has no device front end")
    tables = fixed_tables(inp.model.config.n_mels)
    return FrontendFigures(**frontend_report(tables, inp.window, inp.frames, pr.frontend_code.result()))


def engine_figures(pr: Proof, inp: Inputs) -> EngineFigures:
    from ..dsp.fixed import DC_BINS
    from ..emit.c_engine import data_bytes
    from ..engine.winograd import rows_bytes

    if pr.engine is None:
        return EngineFigures(available=False, reason=pr.trunk_check["reason"])
    per_frame = inp.model.config.n_mels * 2 + DC_BINS * 4
    return EngineFigures(
        state_bytes=pr.engine.state_bytes(), data_bytes=data_bytes(pr.engine),
        code_bytes_cortex_m4_Os=pr.engine_code.result(),
        state_note="sizeof(w2s_engine_t): the same for every window length",
        int8_outputs_per_window=pr.engine.int8_outputs(inp.frames),
        frontend_store_bytes_per_frame=per_frame, frontend_store_bytes=per_frame * inp.frames,
        trunk_vs_tflm=pr.trunk_check,
        tail="exact: integer online-softmax sums over a 256-entry exp table, float32 Gram and head",
        winograd_bytes=rows_bytes(pr.engine), winograd_macs_per_window=pr.engine.graph.winograd_macs(inp.frames))


def bundle_files(inp: Inputs, ex: Exported, q: Quantized, pr: Proof) -> dict[str, bytes | str]:
    """Every bundle file but the reports: the models and the C firmware needs."""
    from ..emit import c_frontend, c_model
    from ..emit.c_engine import engine_files
    from ..verify.deployed import fixed_tables

    dev = pr.dev
    config = c_model.BundleConfig(
        arena_bytes=pr.arena, arena_bytes_measured=pr.arena_measured, sample_rate=SAMPLE_RATE,
        window_samples=inp.window, frames=inp.frames, n_mels=inp.model.config.n_mels,
        input_shape=tuple(int(d) for d in dev.input["shape"]), input_scale=dev.in_scale,
        input_zero_point=dev.in_zero, output_scale=dev.out_scale, output_zero_point=dev.out_zero)
    engine = {**engine_files(pr.engine), "engine_head.json": pr.head_json} if pr.engine is not None else {}
    files = {**engine,
             "model_int8.tflite": q.tflite, "model_float32.tflite": q.tflite_float, "model.onnx": ex.onnx,
             "model_data.h": c_model.model_data_h(), "model_data.c": c_model.model_data_c(q.tflite),
             "model_ops.h": c_model.model_ops_h(pr.ops), "model_config.h": c_model.model_config_h(config)}
    if inp.frontend == "fixed":
        quant = InputQuant.from_scale(dev.in_scale, dev.in_zero)
        files.update(c_frontend.frontend_files(fixed_tables(inp.model.config.n_mels), quant, inp.window))
    return files



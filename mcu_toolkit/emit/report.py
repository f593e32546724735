"""report.md: the figures of report.json, for a person."""

from __future__ import annotations

from ..spec import OUTPUT_NAMES


def _kb(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def _how(tflm) -> str:
    return f" (evaluated as {tflm.evaluated_as})" if tflm is not None and tflm.evaluated_as else ""


def _frontend_rows(fe) -> list[str]:
    if fe.kind != "fixed":
        return []
    code = "not measured (no arm-none-eabi-gcc)" if fe.code_bytes_cortex_m4_Os is None else \
        f"{fe.code_bytes_cortex_m4_Os:,} B code (Cortex-M4, -Os)"
    return [f"| front end flash | {code} + {fe.table_bytes:,} B tables |",
            f"| front end RAM | {fe.state_bytes} B state + {fe.window_buffer_bytes:,} B window buffers |"]


def _engine_rows(e) -> list[str]:
    if e is None:
        return []
    if not e.available:
        return [f"| w2s engine | not available: {e.reason or ''} (TFLM path only) |"]
    check = e.trunk_vs_tflm
    return [f"| w2s engine state (any window length) | {_kb(e.state_bytes)} |",
            f"| front end window store | {e.frontend_store_bytes_per_frame} B/frame = {_kb(e.frontend_store_bytes)} |",
            f"| engine trunk vs TFLM | {check['differing']} of {check['values']:,} int8 values differ "
            f"({check['windows']} windows, {check['tensors']} tensors) |"]


def markdown(r) -> str:
    """r: a bundle.Report."""
    dims = OUTPUT_NAMES
    lines = [
        "# mcu-toolkit convert report",
        "",
        f"Checkpoint: {r.checkpoint}  ",
        f"Window: {r.window_seconds:g} s = {r.window_samples} samples = {r.frames_per_window} frames; "
        f"input {r.input_shape} int8 (NHWC)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| int8 TFLite | {_kb(r.tflite_bytes)} |",
        f"| TFLM arena (with margin) | {_kb(r.arena_bytes)} |",
        f"| TFLM arena (measured minimum) | {_kb(r.arena_bytes_measured)} |",
        f"| MACs per window | {r.macs:,} |",
        f"| trainable parameters | {r.model['params']:,} |",
        f"| front end used for calibration and drift | {r.frontend.kind} |",
    ]
    lines += _frontend_rows(r.frontend) + _engine_rows(r.engine)
    t = r.tflm
    lines += [
        "",
        f"## Drift against the float model, {r.eval_files} held-out files",
        "",
        f"Deployed w2s engine (int8 trunk + exact tail; the gate's figures) and the int8 model on TFLM{_how(t)}:",
        "",
        "| dimension | CCC w2s | CCC TFLM | mean abs err w2s | mean abs err TFLM | max abs err w2s "
        "| max abs err TFLM |",
        "|---|---|---|---|---|---|---|",
    ]
    na = {d: float("nan") for d in dims}
    tc, tm, tx = (na, na, na) if t is None else (t.ccc, t.mean_abs_err or na, t.max_abs_err or na)
    for d in dims:
        lines.append(f"| {d} | {r.ccc[d]:.4f} | {tc[d]:.4f} | {r.mean_abs_err[d]:.4f} | {tm[d]:.4f} | "
                     f"{r.max_abs_err[d]:.4f} | {tx[d]:.4f} |")
    gate = "not set" if r.min_ccc is None else f"{r.min_ccc} -> {'PASS' if r.passed else 'FAIL'}"
    lines += ["", f"Gate (--min-ccc): {gate}", "", "## Ops (registered in model_ops.h)", "",
              ", ".join(r.ops), "", "## Versions", ""]
    lines += [f"- {k} {v}" for k, v in r.versions.items()]
    if r.messages:
        lines += ["", "## Notes", ""] + [f"- {m}" for m in r.messages]
    return "\n".join(lines) + "\n"

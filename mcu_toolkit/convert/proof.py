"""The TFLM proof: ops and arena of the int8 model on TFLM, the w2s engine generated from it (its trunk checked
against TFLM's own tensors), and both deployed paths' drift from the float model on the evaluation set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CheckFailed, ToolkitError
from ..progress import Progress
from ..verify.ccc import UndefinedCCC, ccc_per_dim
from .stages import Inputs


@dataclass
class Proof:
    """Both deployed paths: the int8 model on TFLM (ops, arena) and the w2s engine generated from it
    (its trunk checked against TFLM's tensors), and how far each drifts from the float model."""

    ops: list[str]
    arena_measured: int
    arena: int
    dev: object                   # TflmModel with the recorded arena
    engine: object                # engine.mirror.Engine
    head_json: str
    trunk_check: dict             # the engine's trunk against TFLM's own tensors
    deployed_out: np.ndarray      # the w2s engine: what the gate and report.ccc use
    ccc: dict
    tflm_out: np.ndarray
    tflm_ccc: dict
    tflm_path: str = "the whole int8 model on TFLM"   # how the evaluation ran the TFLM path
    engine_code: object = None    # Futures: the engine's and the front end's code bytes, compiled while TFLM runs
    frontend_code: object = None


def _ccc_checked(out: np.ndarray, inp: Inputs, what: str) -> dict:
    try:
        ccc = ccc_per_dim(out, inp.float_out)
    except UndefinedCCC as e:
        raise CheckFailed(f"cannot measure drift on {inp.eval_dir}: {e}")
    if not all(np.isfinite(v) for v in ccc.values()):
        raise CheckFailed(f"{what}-vs-float CCC is not a number on {inp.eval_dir}: {ccc}")
    return ccc


def model_head(model):
    """The float head the engine's exact tail uses (adv, as trained: no Gram scaling)."""
    from ..engine.tail import Head

    return Head(model.adv.weight.detach().numpy().astype(np.float32),
                model.adv.bias.detach().numpy().astype(np.float32))


def with_silence(engine, inp: Inputs):
    """The engine with the float model's answer to a window with no variance and the input code the front end
    gives every value of it (Head.silence): returned by the device without running the trunk. The answer is
    computed in float64 and rounded once: in float32 it moved by up to ~1000 ULPs with the CPU's instruction
    set (oneDNN's and ATen's kernels), and it is written into the engine's C."""
    import copy
    import dataclasses

    import torch

    from ..verify.deployed import device_input_s8

    silence = np.zeros(inp.window, dtype=np.float32)
    with torch.no_grad():
        f64 = copy.deepcopy(inp.model).double()
        answer = f64(torch.zeros(1, inp.window, dtype=torch.float64)).numpy()[0].astype(np.float32)
    q = engine.graph.input
    codes = np.unique(device_input_s8(silence, inp.frontend, inp.model.config.n_mels, q.scale, q.zero))
    if len(codes) != 1:
        return engine
    return dataclasses.replace(engine, head=dataclasses.replace(engine.head, silence=answer, floor_s8=int(codes[0])))


def _engine_and_tail(tflite: bytes, head, inp: Inputs):
    """The w2s engine and the model's tail alone for TFLM (tflm.tail_model), or None for either: a graph the
    engine cannot run still gets the TFLM path (and the report says why there is no engine)."""
    from ..engine.mirror import Engine
    from ..verify import tflm

    try:
        engine = Engine.from_tflite(tflite, head)
    except Exception as e:  # any graph it cannot read: the TFLM path stays, and the report says why
        why = str(e) if isinstance(e, ToolkitError) else f"{e.__class__.__name__}: {e}"
        inp.messages.append(f"no w2s engine for this model ({why}); the bundle has the TFLM path only, and its "
                            "CCC is the gate's")
        return None, None, why
    try:
        return engine, tflm.tail_model(tflite, engine.graph.features_tensor), None
    except ToolkitError:  # the whole model on TFLM then: slower, and the same numbers
        return engine, None, None


def _trunk_and_tail(tflite: bytes, engine, tail: bytes | None, why: str | None, windows: list, arena: int,
                    inp: Inputs):
    """The engine's trunk against TFLM's tensors on `windows`, and TFLM on the model's tail alone: None when
    TFLM cannot load it or its outputs differ from the whole model's (the evaluation then runs the whole
    model on TFLM, and the report says so)."""
    from ..verify import tflm
    from ..verify.trunk_check import compare_trunk

    if engine is None:
        return {"differing": None, "reason": why}, None
    tail_dev = None
    if tail is not None:
        try:
            tail_dev = tflm.TflmModel(tail, arena_size=4 * arena)
        except ToolkitError:
            pass
    check = compare_trunk(tflite, engine, windows, tail_dev, tail_must_match=False)
    if tail is not None and (tail_dev is None or check.get("tail_outputs_differing")):
        inp.messages.append("TFLM on the model's tail alone did not give the whole model's outputs; "
                            "TFLM ran the whole model for the evaluation")
        tail_dev = None
    return check, tail_dev


def _submit_clips(pool, tflite: bytes, engine_json: str | None, inp: Inputs, tail: bytes | None) -> list:
    """Every evaluation clip on the pool's workers, both deployed paths (deployed.clip_outputs)."""
    from ..verify.deployed import clip_models, clip_outputs

    return pool.submit(clip_models, (tflite, engine_json, inp.frontend, tail, inp.window), clip_outputs,
                       inp.eval_dbs)


def prove_on_tflm(tflite: bytes, inp: Inputs, feats: np.ndarray, progress: Progress, pool=None) -> Proof:
    """Ops, the smallest arena that runs, the engine's trunk against TFLM's tensors, and both deployed
    paths' CCC against the float model.

    TFLM's evaluation runs the model's tail on the engine's features, which are bit-identical to TFLM's
    trunk: checked here tensor by tensor on three windows (the first and the last calibration window, the
    first evaluation window), and the tail's outputs against the whole model's. A tail TFLM cannot load, or
    one that differs, is dropped and TFLM runs the whole model. With a pool, the evaluation runs there while
    this process measures the arena and checks the trunk, then takes the clips no worker has started."""
    from ..verify import tflm
    from ..cores import code_bytes_soon
    from ..verify.deployed import both_clip_outputs, db_to_s8, deployed_clip_outputs
    from ..emit.c_engine import engine_code_sources

    head = model_head(inp.model)
    engine, tail, why = _engine_and_tail(tflite, head, inp)
    if engine is not None:
        engine = with_silence(engine, inp)
        head = engine.head
    engine_code = code_bytes_soon(*engine_code_sources(engine)) if engine is not None else None
    frontend_code = frontend_code_soon(inp)
    head_json = head.to_json()
    engine_json = head_json if engine is not None else None
    futures = _submit_clips(pool, tflite, engine_json, inp, tail) if pool is not None else None
    ops = tflm.model_ops(tflite)
    probe = tflm.TflmModel(tflite, arena_size=64 * 1024 * 1024)
    x0 = probe.quantize(feats[0].transpose(1, 2, 0))
    arena_measured = tflm.measure_arena(tflite, x0)
    arena = tflm.arena_with_margin(arena_measured)
    dev = tflm.TflmModel(tflite, arena_size=arena)
    windows = []
    if engine is not None:
        last = probe.quantize(feats[-1].transpose(1, 2, 0))
        windows = [x0[0, :, :, 0], last[0, :, :, 0],
                   db_to_s8(inp.eval_dbs[0][0], inp.frontend, dev.in_scale, dev.in_zero)]
    trunk_check, tail_dev = _trunk_and_tail(tflite, engine, tail, why, windows, arena, inp)
    if tail is not None and tail_dev is None and futures is not None:  # the workers' tail path is void
        for f in futures:
            f.cancel()
        futures = _submit_clips(pool, tflite, engine_json, inp, None)
    with progress.bar(len(inp.ev), "TFLM + engine") as bar:
        if futures is not None:
            tflm_out, d_out = np.array(pool.collect(futures, bar, lambda i: both_clip_outputs(
                dev, engine, inp.eval_dbs[i], inp.frontend, tail_dev, inp.window))).transpose(1, 0, 2)
        else:
            tflm_out, d_out = deployed_clip_outputs(dev, engine, inp.eval_dbs, inp.frontend, bar, tail_dev,
                                                    inp.window)
    path = ("the model's tail on TFLM, fed with the w2s engine's features (bit-identical to TFLM's trunk on the "
            "checked windows; the tail's outputs equal the whole model's there)" if tail_dev is not None
            else "the whole int8 model on TFLM")
    return Proof(ops, arena_measured, arena, dev, engine, head_json, trunk_check, d_out,
                 _ccc_checked(d_out, inp, "engine"), tflm_out, _ccc_checked(tflm_out, inp, "TFLM"), path,
                 engine_code, frontend_code)


def frontend_code_soon(inp: Inputs):
    """The fixed front end's code bytes, compiled on a thread while TFLM runs (None: no device front end)."""
    from ..cores import code_bytes_soon
    from ..emit.c_frontend import frontend_code
    from ..verify.deployed import fixed_tables

    return code_bytes_soon(*frontend_code(fixed_tables(inp.model.config.n_mels))) if inp.frontend == "fixed" else None


def tflm_eta_s(inp: Inputs) -> float:
    """The arena and trunk checks (four whole-model invokes), then each evaluation window: the front end,
    the engine's mirror and TFLM on the tail, about 20,000 frames per second on the 2-core CI machine."""
    return 0.6 + sum(len(c.windows) for c in inp.ev) * inp.frames / 20000

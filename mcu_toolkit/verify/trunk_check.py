"""The engine's trunk against TFLM's own tensors: every int8 value, every layer."""

from __future__ import annotations

import numpy as np

from ..errors import CheckFailed


def preserved_tensor_bytes(tflite: bytes) -> int:
    """Bytes of every tensor TFLM computes (16-byte aligned): kPreserveAllTensors holds them all at once, so
    its arena grows with the window (2.4 MB at 2 s, 73 MB at 60 s), past any fixed guess."""
    from ai_edge_litert import schema_py_generated as schema

    t = schema.TensorType
    size = {t.INT8: 1, t.UINT8: 1, t.BOOL: 1, t.INT16: 2, t.FLOAT16: 2, t.INT64: 8, t.FLOAT64: 8}
    m = schema.Model.GetRootAsModel(tflite, 0)
    g, total = m.Subgraphs(0), 0
    for i in range(g.TensorsLength()):
        tensor = g.Tensors(i)
        if m.Buffers(tensor.Buffer()).DataLength() == 0:  # constants stay in the flatbuffer
            n = int(np.prod(tensor.ShapeAsNumpy(), dtype=np.int64)) if tensor.ShapeLength() else 1
            total += -(-n * size.get(tensor.Type(), 4) // 16) * 16
    return total


def preserving_interpreter(tflite: bytes):
    """A TFLM interpreter that keeps every tensor (kPreserveAllTensors), its arena sized from the model's."""
    from tflite_micro import runtime

    from .tflm import captured_native_stderr

    need = preserved_tensor_bytes(tflite)
    arena = need + (1 << 20)  # + the interpreter's own objects and scratch buffers
    for _ in range(3):
        with captured_native_stderr():
            try:
                return runtime.Interpreter.from_bytes(
                    tflite, arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
            except RuntimeError:
                arena *= 2
    raise CheckFailed(f"TFLM cannot keep every tensor of this model for the trunk check ({need >> 20} MiB of "
                      f"tensors; an arena of {arena >> 21} MiB failed)")


def tflm_tensors(tflite: bytes, x_s8: np.ndarray, indices: list[int], it=None) -> tuple[dict[int, np.ndarray],
                                                                                         np.ndarray]:
    """TFLM's int8 tensors for one window (T, mels), kept with kPreserveAllTensors, and its int8 output."""
    from .tflm import captured_native_stderr

    it = it if it is not None else preserving_interpreter(tflite)
    with captured_native_stderr():
        it.set_input(x_s8.reshape(1, *x_s8.shape, 1), 0)
        it.invoke()
        return ({i: np.array(it.GetTensor(i, 0)["tensor_data"]) for i in indices},
                np.array(it.get_output(0)).reshape(-1))


def tflm_trunk_tensors(tflite: bytes, x_s8: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    return tflm_tensors(tflite, x_s8, indices)[0]


def compare_trunk(tflite: bytes, engine, windows: list[np.ndarray], tail=None, tail_must_match: bool = True) -> dict:
    """Differing values per window over every trunk tensor; CheckFailed on any difference.

    tail: TFLM running the model's tail only (tflm.tail_model), which the evaluation feeds with the
    engine's features; its int8 outputs must equal the whole model's on TFLM, byte for byte (CheckFailed,
    or only counted with tail_must_match=False: the caller can run the whole model instead)."""
    values = differing = outputs_differing = 0
    it = preserving_interpreter(tflite)
    for x in windows:
        ours = engine.trunk(x)
        theirs, out = tflm_tensors(tflite, x, list(ours), it)
        for i, a in ours.items():
            b = theirs[i].reshape(a.shape)
            values += a.size
            differing += int(np.count_nonzero(a != b))
        if tail is not None:  # the features tensor is the last trunk layer's, already computed
            f = ours.get(engine.graph.features_tensor)
            f = engine.features(x) if f is None else f
            outputs_differing += int(np.count_nonzero(tail.run_int8(f[None]) != out))
    if differing:
        raise CheckFailed(f"the w2s engine's trunk differs from TFLM in {differing} of {values} int8 values")
    if outputs_differing and tail_must_match:
        raise CheckFailed(f"TFLM's tail on the engine's features differs from the whole model on TFLM in "
                          f"{outputs_differing} int8 outputs")
    check = {"windows": len(windows), "tensors": len(engine.graph.trunk_tensors), "values": values,
             "differing": differing}
    if tail is not None:
        check["tail_outputs_differing"] = outputs_differing
    return check

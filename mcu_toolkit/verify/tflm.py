"""The device oracle: run the int8 model in the TFLM interpreter and measure its arena."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

import numpy as np

from ..errors import CheckFailed


@contextlib.contextmanager
def captured_native_stderr():
    """Collect what C++ writes to fd 2 (TFLM's MicroPrintf) instead of showing it."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


def model_ops(tflite: bytes) -> list[str]:
    """Builtin operator names used by the model, sorted."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(tflite, 0)
    ops = set()
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            ops.add("CUSTOM:" + (oc.CustomCode() or b"").decode())
        else:
            ops.add(names.get(code, f"BUILTIN_{code}"))
    return sorted(ops)


def tflm_failure_reason(native_log: str, error: Exception) -> str:
    """The op TFLM lacks, if its log names one; else its first log line."""
    missing = sorted(set(re.findall(r"Didn't find op for builtin opcode '([A-Z_0-9]+)'", native_log)))
    if missing:
        return "no kernel for op(s) " + ", ".join(missing)
    lines = [ln.strip() for ln in native_log.splitlines() if ln.strip()]
    return lines[0][:200] if lines else str(error)


class TflmModel:
    """An int8 model in the TFLM interpreter, with float in / float out helpers."""

    def __init__(self, tflite: bytes, arena_size: int):
        from tflite_micro import runtime

        failure, self.tflite = None, tflite
        with captured_native_stderr() as err:
            try:
                self.interp = runtime.Interpreter.from_bytes(tflite, arena_size=arena_size)
            except RuntimeError as e:
                failure = e
        if failure is not None:
            raise CheckFailed(f"TFLM cannot load the model: {tflm_failure_reason(err['text'], failure)}")
        self.input = self.interp.get_input_details(0)
        self.output = self.interp.get_output_details(0)
        qi, qo = self.input["quantization_parameters"], self.output["quantization_parameters"]
        if len(qi["scales"]) == 0 or len(qo["scales"]) == 0:
            raise CheckFailed("the model's input or output is not int8-quantised")
        self.in_scale, self.in_zero = float(qi["scales"][0]), int(qi["zero_points"][0])
        self.out_scale, self.out_zero = float(qo["scales"][0]), int(qo["zero_points"][0])

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.round(x / self.in_scale) + self.in_zero
        return np.clip(q, -128, 127).astype(np.int8).reshape(tuple(self.input["shape"]))

    def run_int8(self, q: np.ndarray) -> np.ndarray:
        self.interp.set_input(q, 0)
        self.interp.invoke()
        return np.array(self.interp.get_output(0)).reshape(-1)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """int8 outputs -> float32 arousal, dominance, valence: the one place this is done."""
        return (np.asarray(q).astype(np.float32) - self.out_zero) * self.out_scale

    def run(self, x_nhwc: np.ndarray) -> np.ndarray:
        return self.dequantize(self.run_int8(self.quantize(x_nhwc)))


def _loads_and_runs(tflite: bytes, arena: int, q: np.ndarray) -> bool:
    from tflite_micro import runtime

    with captured_native_stderr():
        try:
            it = runtime.Interpreter.from_bytes(tflite, arena_size=arena)
            it.set_input(q, 0)
            it.invoke()
            return True
        except RuntimeError:
            return False


def recorded_arena(tflite: bytes) -> int | None:
    """What TFLM's recording allocator says the model needs (print_allocations), if it says. TFLM plans
    every tensor and scratch buffer when it allocates, before any invoke: the total is the same after one."""
    from tflite_micro import runtime

    with captured_native_stderr() as log:
        try:
            it = runtime.Interpreter.from_bytes(tflite, arena_size=max(64 << 20, 8 * len(tflite)))
            it.print_allocations()
        except RuntimeError:
            pass
    m = re.search(r"Arena allocation total (\d+) bytes", log["text"])
    return int(m.group(1)) if m else None


def measure_arena(tflite: bytes, q: np.ndarray, step: int = 256) -> int:
    """Smallest arena (to `step` bytes) with which TFLM allocates and invokes on real input.

    Starts from the recording allocator's total and proves it with real invokes, stepping up where
    alignment asks for more; a bisection from scratch is the fallback (a dozen invokes more)."""
    n = recorded_arena(tflite)
    if n is not None and not _loads_and_runs(tflite, n - step, q):
        for size in range(n, n + 16 * step, step):  # the first that runs, and the one below it failed
            if _loads_and_runs(tflite, size, q):
                return size
    hi = max(64 * 1024, 4 * len(tflite))
    while not _loads_and_runs(tflite, hi, q):
        hi *= 2
        if hi > 1 << 30:
            raise CheckFailed("TFLM could not run the model with a 1 GiB arena")
    lo = 0  # known to fail
    while hi - lo > step:
        mid = (lo + hi) // 2
        if _loads_and_runs(tflite, mid, q):
            hi = mid
        else:
            lo = mid
    return hi


def arena_with_margin(measured: int) -> int:
    """+10%, rounded up to 1 KiB: optimised kernels (CMSIS-NN, ESP-NN) ask for scratch of their own."""
    return -(-int(measured * 1.10) // 1024) * 1024


def tail_model(tflite: bytes, cut: int) -> bytes:
    """The same int8 model from tensor `cut` on: `cut` becomes its input, and the ops that lead to it go.

    The evaluation runs TFLM on this, fed with the engine's features tensor, because the trunk's
    convolutions are nine tenths of TFLM's time and the engine computes them bit-identically."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    g = m.subgraphs[0]
    producer = {int(t): i for i, op in enumerate(g.operators) for t in op.outputs}
    before, todo = set(), [cut]
    while todo:
        i = producer.get(todo.pop())
        if i is not None and i not in before:
            before.add(i)
            todo.extend(int(t) for t in g.operators[i].inputs if t >= 0)
    kept = [op for i, op in enumerate(g.operators) if i not in before]
    made = {int(t) for op in kept for t in op.outputs} | {cut}
    for op in kept:
        for t in (int(t) for t in op.inputs if t >= 0):
            if t not in made and t in producer:  # a second path into the tail: no single cut
                raise CheckFailed(f"tensor {cut} does not split the model: the tail also reads tensor {t}")
    g.operators, g.inputs, m.signatureDefs = kept, np.array([cut], dtype=np.int32), None
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())

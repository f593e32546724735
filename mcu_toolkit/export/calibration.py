"""TensorFlow's int8 calibration, shared between the TensorFlow child and the parent.

TF's calibrator runs the float model on every calibration window on one thread and holds the GIL, so a
second thread gains nothing. The parent, meanwhile, sits idle on the other core. It can run the very
same calibrator: TensorFlow's calibration extension loads on its own in milliseconds, without the seconds
`import tensorflow` costs. So the child calibrates the first half of the windows, the parent the second,
and the child takes the minimum of the minima and the maximum of the maxima of every tensor: that is
exactly what one pass over all the windows records, and the int8 model is the same, byte for byte.

The hand-off is a few files in the child's output folder. The child writes the model to calibrate and
a job naming the parent's windows and the calibration extension it runs itself (TensorFlow's, or
litert's if that is installed), which the parent then loads. Whoever first claims the second half (an
O_EXCL file) calibrates it: the parent if it is waiting, else the child itself. A parent that cannot
calibrate says so in a file, and the child then does the second half too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

MODEL = "calibrate_model.tflite"   # written by the child: the float model with TF's logging tensors
JOB = "calibrate_job.json"         # {"start": k, "stop": n, "extension": path}: the parent's share
CLAIM = "calibrate_second_half.claim"
PART = "calibrate_second_half.tflite"  # the parent's result: the model with min/max from its windows
FAILED = "calibrate_second_half.failed"


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # the other side polls for the name: it must never see half a file


def claim(folder: Path) -> bool:
    """True for exactly one of the two processes: the one that calibrates the second half."""
    try:
        os.close(os.open(folder / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def calibrate(wrapper_cls, model: bytes, windows: np.ndarray) -> bytes:
    """The model with min/max recorded over `windows` (N, ...) by TF's CalibrationWrapper, fed one window
    at a time and shaped to it, as tf.lite's Calibrator does."""
    wrapper = wrapper_cls(model, [], [])
    wrapper.Prepare([[1, *windows.shape[1:]]])
    for i in range(len(windows)):
        wrapper.FeedTensor([np.ascontiguousarray(windows[i:i + 1])])
    return bytes(wrapper.Calibrate())


# ---- the child's side ----------------------------------------------------------------------------

def merge_min_max(a: bytes, b: bytes) -> bytes:
    """a's model with each tensor's min and max taken over both calibrations (TensorFlow's flatbuffer API)."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    ma, mb = fb.convert_bytearray_to_object(bytearray(a)), fb.convert_bytearray_to_object(bytearray(b))
    for ga, gb in zip(ma.subgraphs, mb.subgraphs, strict=True):
        for ta, tb in zip(ga.tensors, gb.tensors, strict=True):
            qa, qb = ta.quantization, tb.quantization
            if qb is None or qb.min is None:
                continue
            if qa is None or qa.min is None:
                ta.quantization = qb
                continue
            qa.min, qa.max = np.minimum(qa.min, qb.min), np.maximum(qa.max, qb.max)
    return bytes(fb.convert_object_to_bytearray(ma))


RANGE_BITS = 12  # significant bits kept of each calibrated min and max


def outward(values, bits: int = RANGE_BITS, up: bool = True) -> np.ndarray:
    """float32 values rounded up (towards +inf) or down to `bits` significant bits. Exact: frexp, floor or ceil
    and ldexp in float64, and the result fits a float32."""
    m, e = np.frexp(np.asarray(values, dtype=np.float64))
    step = np.ceil if up else np.floor
    return np.ldexp(step(np.ldexp(m, bits)), e - bits).astype(np.float32)


def round_ranges(model: bytes, bits: int = RANGE_BITS) -> bytes:
    """The calibrated model with every tensor's min rounded down and max rounded up to `bits` significant bits.
    The ranges come from TensorFlow's float kernels, whose last bits may differ on another CPU; on this grid
    a difference changes the int8 model only if it straddles a grid line. A range widens by at most 2^-(bits-1)
    of itself: at 12 bits, an eighth of an int8 step."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    m = fb.convert_bytearray_to_object(bytearray(model))
    for g in m.subgraphs:
        for t in g.tensors:
            q = t.quantization
            if q is not None and q.min is not None and q.max is not None:
                q.min, q.max = outward(q.min, bits, up=False), outward(q.max, bits, up=True)
    return bytes(fb.convert_object_to_bytearray(m))


def _wait_for_part(folder: Path) -> bytes | None:
    """The parent's second half, or None if it could not calibrate or is gone (the child then does it)."""
    parent = os.getppid()
    while os.getppid() == parent:
        if (folder / PART).is_file():
            return (folder / PART).read_bytes()
        if (folder / FAILED).is_file():
            return None
        time.sleep(0.002)
    return None


def calibrate_shared(wrapper_cls, model: bytes, windows: np.ndarray, folder: Path) -> bytes:
    """The model calibrated on all `windows`, the second half by the parent if it claims it in time."""
    n = len(windows)
    if n < 2:
        return calibrate(wrapper_cls, model, windows)
    k = (n + 1) // 2
    extension = sys.modules[wrapper_cls.__module__].__file__  # the parent must run this very calibrator
    write_atomic(folder / MODEL, model)
    write_atomic(folder / JOB, json.dumps({"start": k, "stop": n, "extension": extension}).encode())
    first = calibrate(wrapper_cls, model, windows[:k])
    second = None if claim(folder) else _wait_for_part(folder)
    if second is None:
        second = calibrate(wrapper_cls, model, windows[k:])
    return merge_min_max(first, second)


# ---- the parent's side ---------------------------------------------------------------------------

def calibration_wrapper(extension: str):
    """The CalibrationWrapper class of the extension module at `extension` (the child's own), loaded
    without importing tensorflow."""
    name = os.path.basename(extension).split(".")[0]
    spec = importlib.util.spec_from_file_location(name, extension)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {extension}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CalibrationWrapper


def help_child(folder: Path, windows: np.ndarray) -> str | None:
    """If the child has posted its job, calibrate its second half here unless the child has claimed it.
    None while there is no job yet; "" once settled; why this process could not, if it could not (the
    child then calibrates those windows itself: slower, the same bytes)."""
    if not (folder / JOB).is_file():
        return None
    if not claim(folder):
        return ""
    try:
        job = json.loads((folder / JOB).read_text())
        if job["stop"] != len(windows):
            raise ValueError(f"the child has {job['stop']} calibration windows, this process {len(windows)}")
        part = calibrate(calibration_wrapper(job["extension"]), (folder / MODEL).read_bytes(),
                         windows[job["start"]:job["stop"]])
    except BaseException as e:  # the child must never wait on a half that is not coming
        why = f"{e.__class__.__name__}: {e}"
        write_atomic(folder / FAILED, why.encode())
        if not isinstance(e, Exception):
            raise
        return why
    write_atomic(folder / PART, part)
    return ""

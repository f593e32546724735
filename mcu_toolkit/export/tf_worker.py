"""The TensorFlow half of the conversion, run as `python -m mcu_toolkit.export.tf_worker` by convert.

It imports TensorFlow and onnx2tf while the parent is still computing features and exporting ONNX,
then reads one JSON job from stdin: {"onnx": path (already simplified), "calibration": path (float32 NHWC .npy),
"input": name, "out": folder}. onnx2tf builds the Keras model in memory (no saved model on disk), and
from it come, in this order, each written atomically so that the parent can start on the first:

- out/model_full_integer_quant.tflite   one calibrated full-int8 conversion: int8 in and out, per-channel
- out/model_float32.tflite       the float TFLite (checked against onnxruntime by the parent)

The converter takes the frozen function, not a saved model it writes and loads back, and the parent
calibrates half of the windows (export/calibration.py). Against what `onnx2tf -oiqt -qt per-channel` wrote
as *_full_integer_quant.tflite, the int8 model has the same ops, quantisation parameters and constants
(one RESHAPE's target reads [1, 338] for [-1, 338]); the tail's independent ops come in another order, and
the file has no SignatureDef. TFLM gives the same int8 outputs, byte for byte.

One process per convert: Keras names its layers from process-wide counters, so a fresh process gives
the same tensor names every time. The parent fixes the environment (hash seed, threads, oneDNN off).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ONNX2TF_VERSION = "1.28.8"


def _pad_maxpool_with_zero(onnx2tf) -> None:
    """onnx2tf pads MaxPool with 0.0 instead of the dtype's minimum only when it quantises to int8
    itself (its issue #444: the minimum wrecks the int8 scale). We quantise ourselves, so ask its
    MaxPool for the same graph; after a ReLU both pads give the same float result."""
    import onnx2tf.ops.MaxPool as maxpool

    if onnx2tf.__version__ != ONNX2TF_VERSION:
        raise RuntimeError(f"onnx2tf {onnx2tf.__version__}: the MaxPool shim was checked on {ONNX2TF_VERSION} only")
    make_node = maxpool.make_node

    def int8_padding(*args, **kwargs):
        kwargs["output_integer_quantized_tflite"] = True
        return make_node(*args, **kwargs)

    maxpool.make_node = int8_padding


def _to_keras(onnx_path: Path, out: Path):
    import onnx2tf

    _pad_maxpool_with_zero(onnx2tf)
    # no onnxsim here: the parent has run it already (export/tflite.py simplify_onnx)
    return onnx2tf.convert(input_onnx_file_path=str(onnx_path), output_folder_path=str(out), batch_size=1,
                           non_verbose=True, not_use_onnxsim=True, disable_model_save=True)


def _converter(model, input_name: str):
    import tensorflow as tf

    spec = tf.TensorSpec(model.inputs[0].shape, tf.float32, name=input_name)
    fn = tf.function(lambda x: model(x)).get_concrete_function(spec)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    # Convert the frozen function, not a saved model written to disk and loaded back (0.5 s per
    # conversion). Same ops, quantisation and constants; the tail's ops come in another (valid) order.
    conv.experimental_lower_to_saved_model = False
    return conv


@contextlib.contextmanager
def _shared_calibration(folder: Path):
    """tf.lite's int8 conversion as it is, but its calibrator shares the windows with the parent
    (export/calibration.py): the same min/max, the calibration in about half the time; and the ranges are
    rounded outward to a coarse grid (calibration.round_ranges), so that another CPU's float kernels give
    the same int8 model."""
    from tensorflow.lite.python.optimize import calibrator

    from .calibration import calibrate_shared, round_ranges

    base = calibrator.Calibrator
    wrapper = getattr(calibrator, "_calibration_wrapper", None)

    class Shared(base):
        def calibrate(self, dataset_gen):
            model = getattr(self, "_model_content", None)
            if wrapper is None or model is None:  # another TensorFlow's internals: its own, unshared pass
                return round_ranges(super().calibrate(dataset_gen))
            windows = np.concatenate([np.asarray(sample[0]) for sample in dataset_gen()])
            return round_ranges(calibrate_shared(wrapper.CalibrationWrapper, model, windows, folder))

    calibrator.Calibrator = Shared
    try:
        yield
    finally:
        calibrator.Calibrator = base


def _full_int8(model, calibration_nhwc, input_name: str, folder: Path) -> bytes:
    import tensorflow as tf

    conv = _converter(model, input_name)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.SELECT_TF_OPS]

    def representative():
        for i in range(len(calibration_nhwc)):
            yield [tf.convert_to_tensor(calibration_nhwc[i:i + 1], tf.float32)]

    conv.representative_dataset = representative
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with _shared_calibration(folder):
        return conv.convert()


def _float32(model, input_name: str) -> bytes:
    import tensorflow as tf

    conv = _converter(model, input_name)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return conv.convert()


def main() -> int:
    import onnx2tf  # noqa: F401  (imported before the job arrives: this is the wait we overlap)
    import tensorflow  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return 0  # the parent stopped before it had a job for us
    from .calibration import write_atomic

    job = json.loads(line)
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    model = _to_keras(Path(job["onnx"]), out)
    calibration = np.load(job["calibration"])
    write_atomic(out / "model_full_integer_quant.tflite", _full_int8(model, calibration, job["input"], out))
    write_atomic(out / "model_float32.tflite", _float32(model, job["input"]))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)  # what TensorFlow's C++ printed, into the log
    except (OSError, AttributeError):
        pass
    os._exit(code)  # TensorFlow's teardown takes CPU the parent's TFLM stage needs, and frees nothing we keep

"""The TensorFlow half of the conversion, run as `python -m mcu_toolkit.export.tf_worker` by convert.

It imports TensorFlow and onnx2tf while the parent is still computing features and exporting ONNX,
then reads one JSON job from stdin: {"onnx": path (already simplified), "calibration": path (float32 NHWC .npy),
"input": name, "out": folder}. It writes:

- out/model_float32.tflite       onnx2tf's float TFLite (checked against onnxruntime by the parent)
- out/model_full_integer_quant.tflite   one calibrated full-int8 conversion: int8 in and out, per-channel

The result is byte-identical to what `onnx2tf -oiqt -qt per-channel` wrote as *_full_integer_quant.tflite,
without its four other quantised variants and their calibration passes.

One process per convert: Keras names its layers from process-wide counters, so a fresh process gives
the same tensor names every time. The parent fixes the environment (hash seed, threads, oneDNN off).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

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


def _to_tensorflow(onnx_path: Path, out: Path) -> None:
    import onnx2tf

    _pad_maxpool_with_zero(onnx2tf)
    # signaturedefs: the saved_model layout onnx2tf's own int8 path quantises from;
    # no onnxsim here: the parent has run it already (export/tflite.py simplify_onnx)
    onnx2tf.convert(input_onnx_file_path=str(onnx_path), output_folder_path=str(out), batch_size=1,
                    non_verbose=True, not_use_onnxsim=True, output_signaturedefs=True)


def _full_int8(saved_model: Path, calibration_nhwc, input_name: str) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.SELECT_TF_OPS]

    def representative():
        for i in range(len(calibration_nhwc)):
            yield {input_name: tf.convert_to_tensor(calibration_nhwc[i:i + 1], tf.float32)}

    conv.representative_dataset = representative
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> int:
    import numpy as np
    import onnx2tf  # noqa: F401  (imported before the job arrives: this is the wait we overlap)
    import tensorflow  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return 0  # the parent stopped before it had a job for us
    job = json.loads(line)
    out = Path(job["out"])
    _to_tensorflow(Path(job["onnx"]), out)
    tfl = _full_int8(out, np.load(job["calibration"]), job["input"])
    (out / "model_full_integer_quant.tflite").write_bytes(tfl)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

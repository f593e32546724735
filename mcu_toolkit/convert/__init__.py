"""`convert`: checkpoint -> ONNX -> onnx2tf int8 TFLite -> proof on TFLM -> C bundle.

chain.py is the chain (`convert()`), stages.py the stages up to the TFLite, proof.py the TFLM proof, report.py
the report and the bundle's files. What runs where, in order (steps as the progress lines number them):

    this process (main thread)          TensorFlow child          eval pool (--jobs > 1)   gcc threads
    check --out and options; start  ->  imports TF, onnx2tf
    [1] load audio, calibration features (fixed front end)
    [2] export the trunk to ONNX
    [3] onnxsim; hand over the job  ->  onnx2tf, converter
        start the pool  ------------------------------------> spawn; import TFLM, mirror
        float model's checks, ONNX
        parity, eval windows' features
        calibrate the 2nd half      <-> calibrate the 1st half,
                                        merge the min/max
        take the int8 TFLite        <-  int8 written; then
                                        the float TFLite
    [4] engine from the TFLite  --------------------------------------------------------> engine, front-end
        hand the pool every clip  ----------------------------> TFLM + engine per clip     code bytes (-Os)
        ops, arena, trunk check; then
        the clips no worker started
        take the float TFLite       <-  written, exits
        close the pool and the work folder; the run's group waits for the gcc threads, then its
        sentinel kills whatever is left
    [5] report (with the code bytes), bundle written atomically

The calibration's split is export/calibration.py; the child is export/tf_worker.py, started by export/tflite.py
TfWorker; the pool is verify/pool.py; gcc runs through cores.code_bytes_soon; every child but the TensorFlow one
(its own session, which dies with this process) sits in the run's process group (lifetime.py).
"""

from .chain import ConvertResult, check_out, convert
from .report import package_versions
from .stages import _spread, calibrated_levels, calibration_features, check_inputs
from .proof import _engine_and_tail

__all__ = ["ConvertResult", "_engine_and_tail", "_spread", "calibrated_levels", "calibration_features",
           "check_inputs", "check_out", "convert", "package_versions"]

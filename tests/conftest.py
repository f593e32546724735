import csv
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcu_toolkit import resources  # noqa: E402
from mcu_toolkit.audio import load_audio  # noqa: E402


@pytest.fixture(scope="session")
def default_model():
    from mcu_toolkit.model import load_checkpoint

    return load_checkpoint(resources.default_checkpoint())


@pytest.fixture(scope="session")
def heldout():
    """(paths, audio, targets) of the held-out set."""
    d = resources.default_eval_dir()
    paths, wavs, ys = [], [], []
    with open(d / "targets.csv") as f:
        for row in csv.DictReader(f):
            paths.append(d / row["file"])
            wavs.append(load_audio(d / row["file"]))
            ys.append([float(row[k]) for k in ("arousal", "dominance", "valence")])
    return paths, wavs, np.array(ys)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """One real convert of the embedded default (onnx2tf, TFLM); shared by the slow tests."""
    from mcu_toolkit.convert import convert

    out = tmp_path_factory.mktemp("convert") / "bundle"
    return convert(out=out, progress=False)

"""Every emulated core (validate --device: verify/device.py DEVICES) equals the host engine bit for bit, on the
default model and on a checkpoint of another width and mel count, each running its own kernel family."""

import shutil

import pytest

from mcu_toolkit import resources
from mcu_toolkit.verify.device import DEVICES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def other_bundle(tmp_path_factory):
    """8 channels and 25 mels (widths 25 and 13: other kernel shapes, a lone last pixel), a 0.5 s window."""
    import torch

    from mcu_toolkit.convert import convert
    from mcu_toolkit.model import Wav2Small, save_checkpoint
    from mcu_toolkit.model.wav2small import Wav2SmallConfig

    root = tmp_path_factory.mktemp("other")
    torch.manual_seed(5)
    save_checkpoint(Wav2Small(Wav2SmallConfig(channels=8, n_mels=25)).eval(), root / "ck")
    return convert(root / "ck", out=root / "b", window_seconds=0.5, progress=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    audio = tmp_path_factory.mktemp("clips")
    for f in sorted(resources.default_eval_dir().glob("syn_00[3-5]*.flac")):
        shutil.copy(f, audio / f.name)
    return audio


@pytest.mark.parametrize("model", ["default", "other"])
@pytest.mark.parametrize("device", sorted(DEVICES))
def test_each_core_equals_the_host_bit_for_bit(device, model, bundle, other_bundle, clips):
    from mcu_toolkit.verify.validation import validate

    if any(shutil.which(t) is None for t in DEVICES[device].tools):
        pytest.skip(f"no {' / '.join(DEVICES[device].tools)}")
    b = bundle if model == "default" else other_bundle
    res = validate(b.out, clips, device=device)
    assert res.device == device and res.device_windows >= 3
    assert res.device_differing == 0 and res.passed, res.failures
    host = validate(b.out, clips)
    assert (res.deployed_out == host.deployed_out).all()

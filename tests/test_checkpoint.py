"""Checkpoint loading: every supported layout round-trips; every bad checkpoint is one clear error."""

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from mcu_toolkit import resources
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.model import load_checkpoint, save_checkpoint

from helpers import card_state_dict, run_cli, trainable, write_card_checkpoint


@pytest.fixture(scope="module")
def sd():
    return load_file(str(resources.default_checkpoint() / "model.safetensors"))


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_card_key_layout(sd):
    assert "vgg7.l1.conv.weight" in sd and "adv.bias" in sd
    assert "vgg7.l7.norm.num_batches_tracked" in sd
    assert "vgg7.spectrogram_extractor.conv_imag.weight" in sd and "vgg7.logmel_extractor.amin" in sd
    assert len(sd) == 52


def test_round_trip_folder_safetensors_and_pt(tmp_path, default_model, sd):
    save_checkpoint(default_model, tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["channels"] == 13
    assert _same(load_checkpoint(tmp_path / "hf"), default_model)

    save_file(sd, str(tmp_path / "bare.safetensors"))
    assert _same(load_checkpoint(tmp_path / "bare.safetensors"), default_model)

    torch.save(sd, tmp_path / "sd.pt")
    assert _same(load_checkpoint(tmp_path / "sd.pt"), default_model)
    torch.save({"state_dict": sd}, tmp_path / "wrapped.pt")
    assert _same(load_checkpoint(tmp_path / "wrapped.pt"), default_model)


def test_wider_variant_loads(tmp_path):
    from mcu_toolkit.model import Wav2Small, Wav2SmallConfig

    m = Wav2Small(Wav2SmallConfig(channels=32, n_mels=40))
    save_checkpoint(m, tmp_path / "wide")
    got = load_checkpoint(tmp_path / "wide")
    assert got.config.channels == 32 and got.config.n_mels == 40


def _bad(tmp_path, sd, mutate, suffix=".safetensors"):
    d = dict(sd)
    mutate(d)
    p = tmp_path / f"bad{suffix}"
    if suffix == ".pt":
        torch.save(d, p)
    else:
        save_file(d, str(p))
    return p


def _nan(d):
    d["vgg7.l3.conv.weight"] = d["vgg7.l3.conv.weight"].clone()
    d["vgg7.l3.conv.weight"][0, 0, 0, 0] = float("nan")


def _inf(d):
    d["adv.bias"] = d["adv.bias"].clone()
    d["adv.bias"][1] = float("inf")


BAD_CASES = {
    "missing": (lambda d: d.pop("vgg7.l5.norm.running_var"), "missing keys: vgg7.l5.norm.running_var"),
    "missing_shape_key": (lambda d: d.pop("vgg7.l1.conv.weight"), "missing keys: vgg7.l1.conv.weight"),
    "extra": (lambda d: d.__setitem__("vgg7.l8.conv.weight", torch.zeros(3)), "unexpected keys: vgg7.l8.conv.weight"),
    "shape": (lambda d: d.__setitem__("adv.weight", torch.zeros(3, 300)), "adv.weight has shape (3, 300)"),
    "nan": (_nan, "vgg7.l3.conv.weight contains NaN or Inf"),
    "inf": (_inf, "adv.bias contains NaN or Inf"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_bad_checkpoint_names_the_problem(tmp_path, sd, case, suffix):
    mutate, expected = BAD_CASES[case]
    p = _bad(tmp_path, sd, mutate, suffix)
    with pytest.raises(ToolkitError) as e:
        load_checkpoint(p)
    assert expected in str(e.value)
    assert e.value.exit_code == 2


def test_unreadable_files(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ToolkitError, match="not a valid safetensors file"):
        load_checkpoint(junk)
    pt = tmp_path / "junk.pt"
    pt.write_bytes(b"not a zip")
    with pytest.raises(ToolkitError, match="cannot read checkpoint .*: not a PyTorch state_dict file"):
        load_checkpoint(pt)
    with pytest.raises(ToolkitError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ToolkitError, match="has no model.safetensors"):
        load_checkpoint(tmp_path / "empty_dir")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ToolkitError, match="unsupported checkpoint"):
        load_checkpoint(onnx)


def test_bad_config_json(tmp_path, default_model):
    save_checkpoint(default_model, tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text("{not json")
    with pytest.raises(ToolkitError, match="invalid JSON"):
        load_checkpoint(tmp_path / "hf")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_code_is_refused(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    with pytest.raises(ToolkitError) as e:
        load_checkpoint(p)
    assert str(e.value) == (f"refusing to unpickle code from {p}; save a state_dict with safetensors "
                            "or torch.save(model.state_dict())")
    assert "pwned" not in capsys.readouterr().out


def test_pickled_module_refusal_is_plain_and_quiet(tmp_path, recwarn):
    p = tmp_path / "module.pt"
    torch.save({"m": torch.nn.Linear(2, 2)}, p)
    with pytest.raises(ToolkitError, match="refusing to unpickle code") as e:
        load_checkpoint(p)
    assert "weights_only=False" not in str(e.value)
    assert not [w for w in recwarn if "torch" in str(w.filename)]


# ---- the card's own layout ------------------------------------------------------------------------

def _card(sd):
    return card_state_dict(trainable(sd))


def test_card_layout_checkpoint_loads_and_equals_the_reference(tmp_path, sd, default_model):
    card = _card(sd)
    assert tuple(card["vgg7.logmel_extractor.amin"].shape) == (1,)
    folder = write_card_checkpoint(tmp_path / "card", card)
    assert len(json.loads((folder / "config.json").read_text())) > 5  # extra fields are ignored
    got = load_checkpoint(folder)
    wav = torch.randn(2, 16000)
    with torch.no_grad():
        assert torch.allclose(got(wav), default_model(wav), atol=1e-6)


@pytest.mark.parametrize("shape", [(), (1,)])
def test_amin_scalar_or_one_element(tmp_path, sd, shape):
    card = _card(sd)
    card["vgg7.logmel_extractor.amin"] = torch.full(shape, 1e-10)
    save_file(card, str(tmp_path / "c.safetensors"))
    m = load_checkpoint(tmp_path / "c.safetensors")
    assert float(m.vgg7.logmel_extractor.amin) == pytest.approx(1e-10)


def test_amin_value_is_checked(tmp_path, sd):
    card = _card(sd)
    card["vgg7.logmel_extractor.amin"] = torch.tensor([1e-6])
    save_file(card, str(tmp_path / "c.safetensors"))
    with pytest.raises(ToolkitError, match="amin is 1e-06; the device front end uses 1e-10"):
        load_checkpoint(tmp_path / "c.safetensors")


def test_optional_buffers_may_be_absent(tmp_path, sd, default_model):
    card = {k: v for k, v in _card(sd).items()
            if not k.endswith("num_batches_tracked") and not k.endswith("amin")}
    save_file(card, str(tmp_path / "c.safetensors"))
    assert _same_outputs(load_checkpoint(tmp_path / "c.safetensors"), default_model)


def test_num_batches_tracked_in_other_int_types(tmp_path, sd, default_model):
    card = _card(sd)
    for i in range(1, 8):
        card[f"vgg7.l{i}.norm.num_batches_tracked"] = torch.tensor([7], dtype=torch.int32)
    save_file(card, str(tmp_path / "c.safetensors"))
    assert _same_outputs(load_checkpoint(tmp_path / "c.safetensors"), default_model)


def _same_outputs(a, b):
    wav = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.allclose(a(wav), b(wav), atol=1e-6)


@pytest.mark.parametrize("key", ["vgg7.logmel_extractor.melW", "vgg7.spectrogram_extractor.conv_imag.weight"])
def test_frozen_frontend_that_differs_is_refused_naming_tensor_and_difference(tmp_path, sd, key):
    card = _card(sd)
    card[key] = card[key].clone()
    card[key].view(-1)[5] += 0.25
    save_file(card, str(tmp_path / "c.safetensors"))
    with pytest.raises(ToolkitError) as e:
        load_checkpoint(tmp_path / "c.safetensors")
    assert f"{key} differs from the front end the device runs (largest difference 0.25" in str(e.value)
    assert e.value.exit_code == 2


@pytest.mark.parametrize("case", ["nan", "missing", "shape"])
def test_cli_bad_checkpoint_one_line_exit_2_no_output(tmp_path, sd, case):
    p = _bad(tmp_path, sd, BAD_CASES[case][0])
    out = tmp_path / "out"
    r = run_cli("convert", str(p), "--out", str(out), "--quiet")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and BAD_CASES[case][1] in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoint_loads_with_the_exact_front_end(tmp_path, sd, default_model, dtype):
    """Rounded weights are the user's choice; the frozen front end (amin included) stays exact."""
    half = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    save_file(half, str(tmp_path / "h.safetensors"))
    m = load_checkpoint(tmp_path / "h.safetensors")
    assert float(m.vgg7.logmel_extractor.amin) == pytest.approx(1e-10)
    assert torch.equal(m.vgg7.logmel_extractor.melW, default_model.vgg7.logmel_extractor.melW)
    wav = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(m(wav), default_model(wav), atol=0.1)

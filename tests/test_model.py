"""Wav2Small: the architecture facts of the model card and paper (arXiv 2408.13920), and the front end / trunk split."""

from pathlib import Path

import numpy as np
import torch

from mcu_toolkit.model import Wav2Small, Wav2SmallConfig
from mcu_toolkit.model.wav2small import (Trunk, balanced_gram_scale, dft_kernels, float_macs, prenorm,
                                         slaney_mel_matrix)


def test_card_model_parameter_count():
    m = Wav2Small()
    assert m.trainable_parameters() == 10806
    assert sum(p.numel() for p in m.parameters()) == 10806 + 2 * 33 * 64


def test_split_reproduces_whole_model(default_model, heldout):
    _, wavs, _ = heldout
    with torch.no_grad():
        for w in wavs[:6]:
            x = torch.from_numpy(w)[None]
            whole = default_model(x)
            split = default_model.trunk(default_model.float_logmel(x))
            assert torch.equal(whole, split)


def test_exported_trunk_form_equals_the_float_trunk(default_model, heldout):
    """The int8-friendly pooling and a rescaled Gram (undone in the head) change nothing in float."""
    _, wavs, _ = heldout
    with torch.no_grad():
        x = torch.cat([default_model.float_logmel(torch.from_numpy(w[:3200])[None]) for w in wavs[:8]])
        ref = default_model.trunk(x)
        scale = balanced_gram_scale(default_model, x)
        assert scale in (0.0625, 0.125, 0.25)  # 0.2 s windows: Gram entries ~10x the pooled values
        for s in (1.0, scale, 4.0):
            assert torch.allclose(Trunk(default_model, s)(x), ref, atol=1e-5, rtol=0)


def test_frames_and_shapes():
    m = Wav2Small().eval()
    cfg = m.config
    assert cfg.frames(32000) == 999 and cfg.frames(16000) == 499 and cfg.frames(63) == 0
    with torch.no_grad():
        lm = m.float_logmel(torch.randn(2, 16000))
    assert lm.shape == (2, 1, 499, 26)
    assert cfg.pooled_mels == 13 and cfg.head_features == 338


def test_stft_conv_is_hann_windowed_dft():
    m = Wav2Small().eval()
    x = np.random.default_rng(0).standard_normal(64 * 4).astype(np.float32)
    with torch.no_grad():
        power = m.vgg7.spectrogram_extractor(torch.from_numpy(x)[None])[0].numpy()
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    for t in range(power.shape[1]):
        ref = np.abs(np.fft.rfft(x[t * 32:t * 32 + 64] * hann)) ** 2
        np.testing.assert_allclose(power[:, t], ref, rtol=1e-4, atol=1e-3)
    re, im = dft_kernels(64)
    assert re.shape == (33, 64) and np.allclose(im[0], 0)


def test_slaney_mel_matrix_matches_librosa():
    ref = np.load(Path(__file__).parent / "data" / "librosa_mel_sr16000_nfft64_nmels26.npy")
    mel = slaney_mel_matrix(16000, 64, 26)
    assert mel.shape == ref.shape == (33, 26)
    np.testing.assert_allclose(mel, ref, rtol=0, atol=1e-8)


def test_default_checkpoint_mel_is_slaney(default_model):
    np.testing.assert_allclose(default_model.vgg7.logmel_extractor.melW.numpy(),
                               slaney_mel_matrix(16000, 64, 26), atol=1e-8)


def test_prenorm_with_mask_ignores_padding():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.standard_normal(3000).astype(np.float32) * 0.1 + 0.3)
    padded = torch.cat([a, torch.zeros(1000)])[None]
    mask = torch.cat([torch.ones(3000), torch.zeros(1000)])[None]
    got = prenorm(padded, mask)[0]
    ref = prenorm(a[None])[0]
    torch.testing.assert_close(got[:3000], ref, rtol=1e-5, atol=1e-5)
    assert torch.all(got[3000:] == 0)


def test_gain_invariance(default_model, heldout):
    _, wavs, _ = heldout
    # prenorm's 1e-7 floor on the variance breaks invariance only below about -70 dBFS rms
    x = torch.from_numpy(wavs[0])[None]
    x = x / x.abs().max() * 0.5
    with torch.no_grad():
        torch.testing.assert_close(default_model(x), default_model(x * 0.25), rtol=1e-3, atol=2e-3)


def test_widths_come_from_the_checkpoint():
    cfg = Wav2SmallConfig(channels=24, n_mels=40)
    m = Wav2Small(cfg)
    again = Wav2SmallConfig.from_state_dict(m.state_dict())
    assert again == cfg
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 8000)).shape == (1, 3)


def test_macs_per_second_near_reference():
    # About 61 M MACs per second of audio for the card model, counted on the float model as it runs.
    assert float_macs(Wav2Small(), 499) == 61_901_827

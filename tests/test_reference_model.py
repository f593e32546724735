"""The embedded default responds to audio: it is a usable reference for drift figures."""

import numpy as np
import torch

from mcu_toolkit.verify.ccc import ccc_per_dim


def test_reference_checkpoint_tracks_its_heldout_targets(default_model, heldout):
    _, wavs, targets = heldout
    with torch.no_grad():
        pred = np.stack([default_model(torch.from_numpy(w)[None])[0].numpy() for w in wavs])
    assert np.all(pred.std(axis=0) >= 0.05), pred.std(axis=0)
    c = ccc_per_dim(pred, targets)
    assert all(v >= 0.6 for v in c.values()), c

"""Is there a model worth deploying? Checked on the float model before any conversion work.

A model whose outputs are NaN, or do not move whatever the audio (all-zero weights, a dead head row),
gives a meaningless or undefined CCC; an evaluation set the model answers identically to
(silence, one clip three times) gives CCC 0 and says nothing either.
"""

from __future__ import annotations

import numpy as np

from ..errors import CheckFailed, ToolkitError
from .ccc import negligible_spread
from ..spec import OUTPUT_NAMES

DIMS = OUTPUT_NAMES


def probe_signals(n: int, sample_rate: int = 16000) -> list[np.ndarray]:
    """Deterministic, spectrally different signals; prenorm makes their level irrelevant."""
    rng = np.random.default_rng(0)
    t = np.arange(n) / sample_rate
    white = rng.standard_normal(n)
    brown = np.cumsum(rng.standard_normal(n))
    chirp = np.sin(2 * np.pi * (100 + (7000 - 100) * t / (2 * t[-1] + 1e-9)) * t)
    pulses = (np.arange(n) % (sample_rate // 120) == 0).astype(np.float64)
    sigs = [white, brown - brown.mean(), np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 3000 * t), chirp,
            pulses + 0.01 * white]
    return [(0.3 * s / (np.abs(s).max() + 1e-12)).astype(np.float32) for s in sigs]


def check_float_outputs(eval_out: np.ndarray, probe_out: np.ndarray, eval_name: str) -> None:
    """eval_out: (files, 3) float outputs on the evaluation set; probe_out: (probes, 3) on probe_signals.

    NaN/Inf or a constant dimension -> CheckFailed (exit 1); a set the model cannot tell apart -> exit 2.
    """
    if not np.all(np.isfinite(eval_out)) or not np.all(np.isfinite(probe_out)):
        raise CheckFailed("the model's outputs are NaN or Inf; check the checkpoint's weights")
    both = np.concatenate([eval_out, probe_out])
    dead = [d for i, d in enumerate(DIMS) if negligible_spread(both[:, i])]
    if dead:
        vals = ", ".join(f"{d} {both[0, DIMS.index(d)]:.4g}" for d in dead)
        raise CheckFailed(f"the model's outputs are constant whatever the audio ({vals}); "
                          "a model that says nothing is not worth deploying: check the checkpoint")
    flat = [d for i, d in enumerate(DIMS) if negligible_spread(eval_out[:, i])]
    if flat:
        raise ToolkitError(f"evaluation audio {eval_name}: the float model's {', '.join(flat)} hardly vary over "
                           f"its {len(eval_out)} files, so CCC cannot measure drift; use more varied audio (--eval)")

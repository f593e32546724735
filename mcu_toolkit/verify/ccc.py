"""Lin's concordance correlation coefficient, population statistics (ddof=0) over the whole set."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ToolkitError
from ..spec import OUTPUT_NAMES


LOW_CCC = 0.9  # convert and firmware warn below this: a project would build around a broken int8 model


class UndefinedCCC(ToolkitError):
    """CCC has no value for fewer than two items or when both inputs are constant."""


def ccc(pred, target) -> float:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"ccc: {p.shape} vs {t.shape}")
    if p.size < 2:
        raise UndefinedCCC(f"CCC is undefined for {p.size} item(s); it needs at least 2")
    mp, mt = p.mean(), t.mean()
    vp, vt = p.var(), t.var()
    denom = vp + vt + (mp - mt) ** 2
    if denom == 0.0:
        raise UndefinedCCC("CCC is undefined: both inputs are the same constant")
    return float(2.0 * np.mean((p - mp) * (t - mt)) / denom)


def ccc_per_dim(pred, target, names=OUTPUT_NAMES) -> dict[str, float]:
    pred, target = np.asarray(pred), np.asarray(target)
    return {n: ccc(pred[:, i], target[:, i]) for i, n in enumerate(names)}


def ccc_or_nan(pred, target) -> float:
    """CCC, or NaN where it is undefined: NaN then fails every gate (comparisons with NaN are False)."""
    try:
        return ccc(pred, target)
    except UndefinedCCC:
        return float("nan")


def negligible_spread(x, rel: float = 1e-6) -> bool:
    """True when values hardly vary: over such a set CCC collapses to 0 or is undefined, and says nothing."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return x.size < 2 or float(np.ptp(x)) <= rel * max(1.0, float(np.abs(x).max()))


def low_ccc_warning(path: str, ccc: dict) -> str | None:
    """One line when a path's CCC against the float model is under LOW_CCC (or undefined), else None."""
    worst = _worst_ccc(ccc)
    return None if worst is None else (f"warning: this bundle's int8 model tracks the float model poorly ({worst} "
                                       f"on held-out audio, {path})")


def _worst_ccc(ccc: dict) -> str | None:
    """'valence CCC 0.512' for the worst dimension under LOW_CCC; an undefined (NaN, null) CCC counts as failing."""
    if not ccc:
        return "CCC undefined"
    for k, v in ccc.items():
        if v is None or not math.isfinite(v):
            return f"{k} CCC undefined"
    k = min(ccc, key=ccc.get)
    return f"{k} CCC {ccc[k]:.3f}" if ccc[k] < LOW_CCC else None

"""CCC against values worked out by hand."""

import numpy as np
import pytest

from mcu_toolkit.verify.ccc import UndefinedCCC, ccc, ccc_per_dim


def test_identical_is_one():
    assert ccc([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)


def test_hand_worked_example():
    # p = [1,2,3], t = [2,4,6]: mean 2 and 4, var 2/3 and 8/3, cov 4/3
    # ccc = 2*(4/3) / (2/3 + 8/3 + 4) = (8/3) / (22/3) = 4/11
    assert ccc([1, 2, 3], [2, 4, 6]) == pytest.approx(4 / 11)


def test_offset_is_penalised_unlike_pearson():
    # t = p + 1: var 2/3 each, cov 2/3, bias 1 -> 2*(2/3) / (4/3 + 1) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)


def test_anti_correlated():
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_one_constant_side_is_zero_not_undefined():
    # var(p)=0, cov=0, denominator > 0
    assert ccc([2, 2, 2], [1, 2, 3]) == pytest.approx(0.0)


def test_population_statistics():
    p = np.array([0.1, 0.4, 0.35, 0.8])
    t = np.array([0.2, 0.3, 0.5, 0.9])
    cov = np.mean((p - p.mean()) * (t - t.mean()))
    ref = 2 * cov / (p.var() + t.var() + (p.mean() - t.mean()) ** 2)
    assert ccc(p, t) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("p,t", [([1.0], [1.0]), ([], []), ([3, 3, 3], [3, 3, 3])])
def test_undefined_is_reported(p, t):
    with pytest.raises(UndefinedCCC, match="undefined"):
        ccc(p, t)


def test_per_dim():
    x = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]], dtype=float)
    got = ccc_per_dim(x, x)
    assert list(got) == ["arousal", "dominance", "valence"]
    assert all(v == pytest.approx(1.0) for v in got.values())

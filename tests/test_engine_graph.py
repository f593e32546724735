"""What convert does with a model the engine cannot run: the TFLM path only, and it says why (fast)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mcu_toolkit.convert import _engine_and_tail
from mcu_toolkit.engine.graph import _same_pads, read_graph
from mcu_toolkit.engine.tail import Head
from mcu_toolkit.errors import ToolkitError


def test_a_graph_the_engine_cannot_read_leaves_the_tflm_path_and_a_reason():
    inp = SimpleNamespace(messages=[])
    head = Head(np.zeros((3, 338), np.float32), np.zeros(3, np.float32))
    engine, tail, why = _engine_and_tail(b"not a flatbuffer", head, inp)
    assert engine is None and tail is None and "does not parse" in why
    assert len(inp.messages) == 1 and "TFLM path only" in inp.messages[0]


def test_read_graph_refuses_in_one_line():
    with pytest.raises(ToolkitError, match="does not parse"):
        read_graph(b"\x00" * 64)


@pytest.mark.parametrize("size,out,k,stride,want", [(999, 500, 3, 2, (1, 1)), (1000, 500, 3, 2, (0, 1)),
                                                    (25, 13, 3, 2, (1, 1)), (26, 13, 3, 2, (0, 1)),
                                                    (26, 26, 3, 1, (1, 1))])
def test_same_padding_is_tflms(size, out, k, stride, want):
    assert _same_pads(size, out, k, stride) == want

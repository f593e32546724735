"""Guards on the code's shape that a review asked for: short functions, facts defined once."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "mcu_toolkit"


def test_no_function_in_the_package_is_over_60_lines():
    long = []
    for p in PKG.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60:
                long.append(f"{p.relative_to(PKG)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)")
    assert not long, long


def test_cortex_m_flags_and_output_names_are_defined_once():
    """Only cores.py spells a -mcpu flag list and only spec.py spells the output names."""
    for p in PKG.rglob("*.py"):
        text = p.read_text()
        if p.name != "cores.py":
            assert '"-mfpu=' not in text, p
        if p.name != "spec.py":
            assert '("arousal", "dominance", "valence")' not in text, p

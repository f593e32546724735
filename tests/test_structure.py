"""Guards on the code's shape that a review asked for: short functions, facts defined once."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "mcu_toolkit"


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


def test_pyproject_ships_every_package_and_its_c_sources():
    """A non-editable install carries only what pyproject lists: every package, and each c/ folder's sources
    (an editable install hides a missing one; CI installs non-editable)."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    pkg_root = ROOT / "mcu_toolkit"
    packages = {".".join(p.relative_to(ROOT).parts[:-1]) for p in pkg_root.rglob("__init__.py")}
    assert packages <= set(cfg["packages"]), packages - set(cfg["packages"])
    for c_dir in pkg_root.rglob("c"):
        pkg = ".".join(c_dir.parent.relative_to(ROOT).parts)
        assert {"c/*.c", "c/*.h"} <= set(cfg["package-data"].get(pkg, [])), pkg


def test_the_engine_package_never_imports_the_emitters():
    """engine/ holds the engine's facts (graph, layout, mirror); emit/ writes C from them, never the reverse."""
    for p in (PKG / "engine").rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom):
                assert "emit" not in (n.module or "").split("."), f"{p.relative_to(PKG)} imports {n.module}"


def test_no_dispatch_on_layer_kinds_outside_the_layers():
    """A layer kind answers for itself (engine/layers.py): nothing in engine/ or emit/ asks which kind it has."""
    kinds = ("Conv", "MaxPool", "Layer")
    for p in [*(PKG / "engine").rglob("*.py"), *(PKG / "emit").rglob("*.py")]:
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) in ("isinstance", "type"):
                names = {getattr(a, "id", None) for a in ast.walk(ast.Tuple(elts=n.args[1:]))}
                assert not names & set(kinds), f"{p.relative_to(PKG)}:{n.lineno} dispatches on a layer kind"


def test_the_package_validate_has_the_real_signature():
    import inspect

    import mcu_toolkit
    from mcu_toolkit.verify import validation

    public, real = inspect.signature(mcu_toolkit.validate), inspect.signature(validation.validate)
    assert list(public.parameters) == list(real.parameters)
    assert all(public.parameters[k].default == real.parameters[k].default for k in real.parameters)


def test_a_board_with_an_unknown_core_fails_when_boards_are_defined():
    """A board's core is a key of cores.CORES, which gives its flags and speed data: a misspelt core (the CPU's
    name, say) fails at import instead of silently skipping the real-time check."""
    from mcu_toolkit.cores import CORES
    from mcu_toolkit.firmware.boards import BOARDS, Board

    with pytest.raises(ValueError, match="unknown core 'Cortex-M4F'"):
        Board("nrf52840", "Cortex-M4F", 1024 * 1024, 256 * 1024, "nrf52", "nRF52840, 64 MHz", mhz=64)
    assert {b.core for b in BOARDS.values()} <= set(CORES)


def test_every_board_has_its_template_and_implements_board_h():
    """Each board's template and common/ files exist, and a board that takes board.h defines its five functions
    in its own sources (w2s_app.c calls them; a missing one is a link error only on the real target)."""
    from mcu_toolkit import resources
    from mcu_toolkit.firmware.boards import BOARDS

    templates = resources.firmware_templates_root()
    api = re.findall(r"^\w[\w ]*?\b(board_\w+)\(", (templates / "common" / "board.h").read_text(), re.M)
    assert len(api) == 5, api
    for b in BOARDS.values():
        assert (templates / b.template).is_dir(), b.name
        assert all((templates / "common" / f).is_file() for f in b.common), b.name
        if "board.h" in b.common:
            own = "".join(p.read_text() for p in (templates / b.template).rglob("*") if p.suffix in (".c", ".cc"))
            assert [f for f in api if not re.search(rf"^\w[\w *]*\b{f}\([^)]*\)\s*\{{", own, re.M)] == [], b.name


def test_each_device_one_entry():
    """validate's --device choices (spec.DEVICES, torch-free for the CLI) are device.DEVICES, each one board."""
    from mcu_toolkit import spec
    from mcu_toolkit.firmware.boards import BOARDS
    from mcu_toolkit.verify.device import DEVICES

    assert spec.DEVICES == ("host", *DEVICES)
    assert all(d.board in BOARDS for d in DEVICES.values())

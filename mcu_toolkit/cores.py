"""Cortex-M cores: the compiler flags for each, defined once, and what a C file costs on one.

Boards, tests and benchmarks take their flags from here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .lifetime import in_group, track

STRICT_C = ("-std=c99", "-Wall", "-Wextra", "-Werror")
CORES = {
    "cortex-m0plus": ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
    "cortex-m4f": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
    "cortex-m33": ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
}
M4F = CORES["cortex-m4f"]


def code_bytes(files: dict[str, str], sources: str | tuple[str, ...], core: str = "cortex-m4f",
               opt: str = "-Os") -> int | None:
    """.text bytes of `sources` (some of `files`, name -> text) compiled for `core`, summed; None without
    arm-none-eabi-gcc or if one fails to compile."""
    gcc, size = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    if not gcc or not size:
        return None
    names = (sources,) if isinstance(sources, str) else sources
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            (Path(d) / name).write_text(text)
        # gcc -c writes each object into the working directory, d; gcc's own temporary files go in d too:
        # the caller's TMPDIR may be a folder about to be removed
        r = subprocess.run([gcc, *CORES[core], opt, "-std=c99", "-c", *names], cwd=d, capture_output=True,
                           env={**os.environ, "TMPDIR": d}, **in_group())
        if r.returncode != 0:
            return None
        objs = [str(Path(n).with_suffix(".o")) for n in names]
        out = subprocess.run([size, "-A", *objs], cwd=d, capture_output=True, text=True, **in_group()).stdout
        text = [int(t) for t in re.findall(r"^\.text\s+(\d+)", out, re.M)]
        return sum(text) if len(text) == len(names) else None


# Compiles on threads: gcc is a process of its own, so the caller goes on meanwhile.
_COMPILES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="code_bytes")


def code_bytes_soon(files: dict[str, str], sources: str | tuple[str, ...], core: str = "cortex-m4f",
                    opt: str = "-Os") -> Future:
    """code_bytes, as a Future; a run's group (lifetime.child_group) waits for it, and kills its gcc on a stop."""
    return track(_COMPILES.submit(code_bytes, files, sources, core, opt))

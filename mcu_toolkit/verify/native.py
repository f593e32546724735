"""The device's C (front end, pipeline, streaming engine) compiled for this host and called through ctypes:
validate's fast path. The same integers as the numpy mirror (tests/test_native.py holds them equal) and as the
firmware, which runs the same files.

Built once per machine and per source into a cache, `~/.cache/mcu-toolkit/host/<key>/` (MCU_TOOLKIT_CACHE, or
XDG_CACHE_HOME, moves it); the key hashes every source, the flags, the compiler's version and the CPU's features
(-march=native picks the engine's kernel family: AVX2, AVX-512 VNNI, NEON, else the portable C). Concurrent
workers build it once: a lock, a private temporary folder, an atomic rename. No C compiler: load() returns None
with a note, and the caller keeps the numpy mirror.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources as ilr
from pathlib import Path

import numpy as np

from ..errors import CheckFailed

FLAGS = ("-std=c99", "-O3", "-march=native", "-fPIC", "-shared",
         "-ffp-contract=off")  # the head's float sums rounded as the mirror's: no fused multiply-add
GLUE = "w2s_host.c"
TEMPLATE_FILES = ("w2s_pipeline.c", "w2s_pipeline.h", "w2s_infer.c", "w2s_infer.h", "w2s_status.h")
LIB = "libw2s_host.so"


def cache_root() -> Path:
    if os.environ.get("MCU_TOOLKIT_CACHE"):
        return Path(os.environ["MCU_TOOLKIT_CACHE"]) / "host"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcu-toolkit" / "host"


@lru_cache(maxsize=1)
def compiler() -> tuple[str, str] | None:
    """(command, its version line), or None: no C compiler here. CC if set, else cc, else gcc."""
    for cc in (os.environ.get("CC"), "cc", "gcc"):
        if cc and shutil.which(cc):
            try:
                out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            return cc, (out.splitlines() or ["?"])[0]
    return None


@lru_cache(maxsize=1)
def cpu_features() -> str:
    """What -march=native sees, as far as the kernel tells: /proc/cpuinfo's flags (x86) or Features (arm)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("flags", "Features"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sources(engine=None, frontend: dict[str, str] | None = None) -> dict[str, str]:
    """Every file a library is built from: the engine's (emitted for this model; None: none), the front end's
    (c_frontend.frontend_files; None: none), with both and the bundle's quantiser the firmware's pipeline and
    inference step, and the glue."""
    from ..emit.c_engine import engine_files
    from ..resources import firmware_templates_root

    common = firmware_templates_root() / "common"
    files = {"w2s_status.h": (common / "w2s_status.h").read_text()}
    if engine is not None:
        files.update(engine_files(engine))
    if frontend is not None:
        files.update(frontend)
    if engine is not None and frontend is not None and "g_w2s_frontend_config" in frontend["w2s_frontend_tables.c"]:
        files.update({n: (common / n).read_text() for n in TEMPLATE_FILES})
    files[GLUE] = (ilr.files("mcu_toolkit.verify") / "c" / GLUE).read_text()
    return files


def _flags(files: dict[str, str]) -> tuple[str, ...]:
    """What the glue holds (w2s_host.c's W2S_HOST_*), from the files present."""
    parts = []
    if "w2s_engine.c" in files:
        parts += ["-DW2S_HOST_ENGINE", "-DW2S_ENGINE_TRUNK_TAP=w2s_host_trunk_row"]
    if "w2s_frontend.c" in files:
        parts.append("-DW2S_HOST_FRONTEND")
    if "w2s_pipeline.c" in files:
        parts.append("-DW2S_HOST_PIPELINE")
    return FLAGS + tuple(parts)


def _key(files: dict[str, str], cc: tuple[str, str]) -> str:
    h = hashlib.sha256()
    for part in (repr(_flags(files)), cc[0], cc[1], platform.machine(), cpu_features()):
        h.update(part.encode() + b"\0")
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()[:20]


def build(files: dict[str, str], cc: tuple[str, str], root: Path | None = None) -> Path:
    """The shared library for these sources in the cache, compiled if it is not there yet."""
    folder = (root or cache_root()) / _key(files, cc)
    lib = folder / LIB
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds, the others wait for it
        if lib.is_file():
            return lib
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            for name, text in files.items():
                (Path(tmp) / name).write_text(text)
            out = Path(tmp) / LIB
            cmd = [cc[0], *_flags(files), f"-I{tmp}", *sorted(str(Path(tmp) / n) for n in files if n.endswith(".c")),
                   "-o", str(out)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                err = (r.stderr.strip().splitlines() or ["no message"])[0]
                raise CheckFailed(f"building the host engine with {cc[0]} failed: {err}")
            os.replace(out, lib)  # atomic: a reader sees the whole library or none
    return lib


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


@dataclass
class HostPipeline:
    """A compiled library for one bundle (or one front end): windows in, the device's integers and floats out.
    Each method needs its part (sources()): the front end, the engine, or both with the quantiser."""
    lib: ctypes.CDLL
    frames: int
    n_mels: int
    outputs: int = 3

    def __post_init__(self):
        u32, p = ctypes.c_uint32, ctypes.c_void_p
        for name, args in (("w2s_host_db_q7", (p, u32, u32, u32, p)), ("w2s_host_engine_f32", (p, u32, u32, p)),
                           ("w2s_host_features_s8", (p, u32, u32, u32, p, p)),
                           ("w2s_host_windows_f32", (p, u32, u32, p)), ("w2s_host_input_s8", (p, u32, u32, p))):
            if hasattr(self.lib, name):
                getattr(self.lib, name).argtypes = args

    def has(self, name: str) -> bool:
        return hasattr(self.lib, f"w2s_host_{name}")

    @staticmethod
    def _check(rc: int, what: str) -> None:
        if rc != 0:
            raise CheckFailed(f"the host {what} refused a window (status {-rc})")

    def db_q7(self, pcm_s16: np.ndarray) -> np.ndarray:
        """(windows, frames, mels) int16: fixed.window_logmel_q7 of each row of int16 PCM (windows, samples)."""
        pcm = np.ascontiguousarray(pcm_s16, dtype=np.int16)
        out = np.empty((len(pcm), self.frames, self.n_mels), np.int16)
        self._check(self.lib.w2s_host_db_q7(pcm.ctypes.data, len(pcm), pcm.shape[1], self.frames, out.ctypes.data),
                    "front end")
        return out

    def windows_f32(self, pcm_s16: np.ndarray) -> np.ndarray:
        """(windows, 3) float32: each row of int16 PCM (windows, window_samples) through the front end, the
        pipeline and w2s_infer_window_f32, as the firmware runs it."""
        pcm = np.ascontiguousarray(pcm_s16, dtype=np.int16)
        out = np.empty((len(pcm), self.outputs), np.float32)
        self._check(self.lib.w2s_host_windows_f32(pcm.ctypes.data, len(pcm), self.frames, out.ctypes.data),
                    "pipeline")
        return out

    def input_s8(self, pcm_s16: np.ndarray) -> np.ndarray:
        """(windows, frames, mels) int8: the model input the firmware's front end hands TFLM."""
        pcm = np.ascontiguousarray(pcm_s16, dtype=np.int16)
        out = np.empty((len(pcm), self.frames, self.n_mels), np.int8)
        self._check(self.lib.w2s_host_input_s8(pcm.ctypes.data, len(pcm), self.frames, out.ctypes.data),
                    "front end")
        return out

    def engine_f32(self, x_s8: np.ndarray) -> np.ndarray:
        """(windows, 3) float32: int8 model input (windows, frames, mels) through the engine (silence as
        w2s_infer.c answers it)."""
        x = np.ascontiguousarray(x_s8, dtype=np.int8)
        out = np.empty((len(x), self.outputs), np.float32)
        self._check(self.lib.w2s_host_engine_f32(x.ctypes.data, len(x), x.shape[1], out.ctypes.data), "engine")
        return out

    def features_s8(self, x_s8: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """((windows, *shape) int8, (windows, 3) float32): the trunk's output (rows, W, C), the tensor the pooling
        reads (Engine.features), and engine_f32's answers, for int8 model input (windows, frames, mels)."""
        x = np.ascontiguousarray(x_s8, dtype=np.int8)
        f = np.empty((len(x), *shape), np.int8)
        out = np.empty((len(x), self.outputs), np.float32)
        self._check(self.lib.w2s_host_features_s8(x.ctypes.data, len(x), x.shape[1], shape[0], f.ctypes.data,
                                                  out.ctypes.data), "engine")
        return f, out


NO_COMPILER = ("no C compiler found (CC, cc or gcc): the w2s engine and front end run as their numpy mirrors on "
               "the host (the same numbers, several times slower)")


def load(engine, frontend: dict[str, str] | None, frames: int, notes: list[str] | None = None,
         root: Path | None = None, n_mels: int | None = None) -> HostPipeline | None:
    """The compiled library for this engine (None: the front end alone) and front end (c_frontend.frontend_files,
    with the bundle's quantisation for the pipeline; None: the engine alone), or None with a note when this
    machine has no C compiler that builds it."""
    cc = compiler()
    if cc is None:
        if notes is not None:
            notes.append(NO_COMPILER)
        return None
    try:
        lib = build(sources(engine, frontend), cc, root)
    except (CheckFailed, OSError) as e:  # a compiler that cannot build it, a cache it cannot write: the mirror
        if notes is not None:                # gives the same numbers, slower
            notes.append(f"{e}; the w2s engine and front end run as their numpy mirrors on the host (the same "
                         "numbers, slower)")
        return None
    try:
        loaded = ctypes.CDLL(str(lib))
    except OSError as e:  # a cache on a noexec mount, a damaged library: the mirror, the same numbers
        if notes is not None:
            notes.append(f"cannot load the host engine ({e}); the numpy mirrors run instead (the same numbers)")
        return None
    return HostPipeline(loaded, frames, engine.graph.n_mels if engine is not None else n_mels)

"""Everything the toolkit writes goes through here: checked before any work, written atomically.

- `check_dir_target` / `check_file_target` run before the expensive work, so an impossible `--out`
  costs one line and no time. `--force` replaces only what is recognisably an earlier output of the same
  command (`ours`), and never an input or a folder holding one.
- `atomic_write` writes a file next to its target and renames it; `staged_dir` builds a folder
  beside its target and renames it into place under a lock on the parent.
- Files and folders get the mode the umask gives, like any tool (mkstemp alone would give 0600).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from .errors import ToolkitError

Inputs = Mapping[str, "str | os.PathLike | None"]  # what the command reads, by how the user named it


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable_under(target: Path) -> Path:
    """The nearest existing ancestor of `target`, once proven to be a folder we can create entries in."""
    anc = _nearest_existing(target.parent)
    if not anc.is_dir():
        raise ToolkitError(f"cannot create {target}: {anc} is not a directory")
    try:  # a real probe: root passes os.access() on read-only mounts and /proc
        os.rmdir(tempfile.mkdtemp(prefix=".mcu_toolkit_probe.", dir=anc))
    except OSError as e:
        raise ToolkitError(f"cannot create {target}: {anc} is not writable ({e.strerror or e})")
    return anc


def within(p: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """`p` is `folder` or lies inside it, symbolic links resolved."""
    p, folder = Path(p).resolve(), Path(folder).resolve()
    return p == folder or folder in p.parents


def check_not_input(out: Path, inputs: Inputs | None, option: str = "--out") -> None:
    """`out` is not an input, nor a folder holding one: replacing it would delete what the command reads."""
    for label, path in (inputs or {}).items():
        if path is not None and within(path, out):
            how = "is" if Path(path).resolve() == out.resolve() else "holds"
            raise ToolkitError(f"{option} {out} {how} {label} ({path}); choose another {option}")


def _recognised(out: Path, ours: Callable[[Path], bool] | None) -> bool:
    try:
        return ours is None or bool(ours(out))
    except (OSError, ValueError):  # unreadable or not what it claims: not ours
        return False


def _check_replaceable(out: Path, ours: Callable[[Path], bool] | None, what: str) -> None:
    if not _recognised(out, ours):
        raise ToolkitError(f"refusing to replace {out}, even with --force: it is not {what}; remove it "
                           "yourself or choose another --out")


def check_dir_target(out: str | os.PathLike, force: bool, *, inputs: Inputs | None = None,
                     ours: Callable[[Path], bool] | None = None,
                     what: str = "an earlier output of this command") -> Path:
    """`out` may become a folder: it is absent, or with --force a folder `ours` recognises (empty, or an earlier
    output); it is no input and holds none; its parent can be written."""
    out = Path(out)
    check_not_input(out, inputs)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ToolkitError(f"output path {out} exists and is not a directory")
        if not force:
            raise ToolkitError(f"output directory {out} already exists; use --force to replace it")
        if out.name in ("", ".", "..") or os.path.ismount(out) or out.resolve() == Path.cwd().resolve():
            # a rename cannot move these: the run would fail at its very end
            raise ToolkitError(f"cannot replace {out}: a rename cannot move the current folder, its parent "
                               "or a mount point; choose a new --out")
        _check_replaceable(out, ours, what)
    _check_creatable_under(out)
    return out


def check_file_target(out: str | os.PathLike, force: bool, what: str = "output file", *,
                      inputs: Inputs | None = None, ours: Callable[[Path], bool] | None = None,
                      option: str = "--out") -> Path:
    """`out` may become a file: not a folder, absent unless --force (then one `ours` recognises), no input,
    in an existing writable folder."""
    out = Path(out)
    check_not_input(out, inputs, option)
    if out.is_dir():
        raise ToolkitError(f"{what} {out} is a directory")
    if out.exists() and not force:
        raise ToolkitError(f"{what} {out} already exists; use --force to replace it")
    if out.exists() and not _recognised(out, ours):
        raise ToolkitError(f"refusing to replace {out}: it is not an earlier {what} of this command; remove it "
                           f"yourself or choose another {option}")
    if not out.parent.is_dir():
        raise ToolkitError(f"folder of {what} {out} does not exist: {out.parent}")
    _check_creatable_under(out)
    return out


def starts_with(magic: bytes) -> Callable[[Path], bool]:
    """A recogniser for `ours`: an empty file, or one that begins with `magic` (a format's signature)."""
    def check(p: Path) -> bool:
        with open(p, "rb") as f:
            head = f.read(len(magic))
        return head in (b"", magic)
    return check


def empty_or(recognise: Callable[[Path], bool]) -> Callable[[Path], bool]:
    """A folder recogniser for `ours`: an empty folder (nothing to lose) or one `recognise` accepts."""
    return lambda p: p.is_dir() and (not any(p.iterdir()) or recognise(p))


def atomic_write(data: bytes | str, out: str | os.PathLike, force: bool = True) -> Path:
    """Write a temporary file next to the target, then rename: readers never see half a file."""
    out = check_file_target(out, force)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


@contextlib.contextmanager
def _locked(folder: Path):
    """flock on the folder itself: serialises publishers of one --out without a lock file left behind."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:  # NFS and some FUSE mounts refuse flock: publish unlocked, as before
            if e.errno not in (errno.ENOLCK, errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        yield
    finally:
        os.close(fd)


def _publish(stage: Path, out: Path, force: bool, ours: Callable[[Path], bool] | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent):
        if out.exists() or out.is_symlink():
            if not out.is_dir():
                raise ToolkitError(f"output path {out} exists and is not a directory")
            if not force:
                raise ToolkitError(f"output directory {out} already exists; use --force to replace it")
            _check_replaceable(out, ours, "an earlier output any more")  # it changed during the run
            _replace(stage, out)
        else:
            try:
                os.replace(stage, out)
            except OSError as e:
                if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise ToolkitError(f"output directory {out} appeared while writing; use --force to replace it")
                raise ToolkitError(f"cannot write {out}: {e.strerror or e}")


def _replace(stage: Path, out: Path) -> None:
    """Swap the stage in for an existing folder; on any failure the old folder is back where it was."""
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    try:
        try:
            os.replace(out, old / "previous")
        except OSError as e:
            raise ToolkitError(f"cannot replace {out}: {e.strerror or e}")
        try:
            os.replace(stage, out)
        except BaseException as e:
            os.replace(old / "previous", out)
            if isinstance(e, OSError):
                raise ToolkitError(f"cannot replace {out}: {e.strerror or e}")
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike, force: bool, ours: Callable[[Path], bool] | None = None):
    """Yield an empty staging folder; on success it becomes `out`, on any exception it vanishes.
    An existing `out` is replaced only with `force`, and only if `ours` (when given) still recognises it.

    The stage sits in the nearest existing ancestor of `out` (same file system, so the final rename
    is atomic), and missing parents are only created at publish time: a failed run leaves nothing.
    """
    out = Path(out)
    anc = _check_creatable_under(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp.", dir=anc))
    try:
        os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes 0700; a bundle is an ordinary folder
        yield stage
        _publish(stage, out, force, ours)  # rename across folders of one file system is still atomic
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_folder_target(out: str | os.PathLike) -> Path:
    """A folder to write files into: an existing writable folder, or one that can be created."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"output path {out} exists and is not a directory")
    if out.is_dir():
        _check_creatable_under(out / "probe")
    else:
        _check_creatable_under(out)
    return out

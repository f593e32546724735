"""Environment variables set for a while, then put back: for native libraries and spawned children that
read them, without leaving the caller's process changed."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def environ_set(**values: str):
    """os.environ[k] = v for each pair while open; every variable is restored (or removed) on exit."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

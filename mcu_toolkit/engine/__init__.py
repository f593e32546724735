"""Our own streaming int8 engine: generated from the int8 TFLite, bit-exact with TFLM through the trunk."""

from importlib import resources as _resources


def c_source_names() -> tuple[str, ...]:
    """The engine's hand-written C (engine/c), each header before its .c: the emitter, the bundle and the
    firmware take this list, so a new kernel file needs no list edited."""
    names = [p.name for p in (_resources.files(__name__) / "c").iterdir() if p.name.endswith((".h", ".c"))]
    return tuple(sorted(names, key=lambda n: (n[:-2], n.endswith(".c"))))

"""Writing C text: literals, #defines, constant arrays and designated struct initialisers, one way each."""

from __future__ import annotations

import numpy as np


def f32(x) -> str:
    """A float32 literal with 9 significant digits: the compiler reads back the same float32."""
    s = f"{float(np.float32(x)):.9g}"
    return s + ("f" if ("." in s or "e" in s) else ".0f")


def literal(value: int, unsigned: bool = False) -> str:
    """`12u` for a count or size; a negative value in parentheses, safe inside any expression."""
    if unsigned:
        return f"{value}u"
    return f"({value})" if value < 0 else str(value)


def define(name: str, value: int, comment: str = "", unsigned: bool = False, width: int = 0) -> str:
    """`#define NAME value /* comment */`, the comment starting at column `width` + 1 at least."""
    head = f"#define {name} {literal(value, unsigned)}"
    return f"{head:<{width}} /* {comment} */" if comment else head


def string(text: str) -> str:
    """A C string literal of printable ASCII `text`: quotes, backslashes and ? (trigraphs, in C99) escaped."""
    if not all(" " <= c <= "~" for c in text):
        raise ValueError(f"not printable ASCII: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("?", "\\?") + '"'


def array(ctype: str, name: str, values, per_line: int = 16, fmt=str, static: bool = True) -> str:
    """`[static ]const ctype name[n] = {...};`: `per_line` values a line, or one braced row a line for 2-D."""
    v = np.asarray(values)
    if v.ndim == 2:
        rows = ["    {" + ", ".join(fmt(x) for x in row) + "}," for row in v]
    else:
        vals = [fmt(x) for x in v.reshape(-1)]
        rows = ["    " + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    shape = "".join(f"[{n}]" for n in v.shape)
    return f"{'static ' if static else ''}const {ctype} {name}{shape} = {{\n" + "\n".join(rows) + "\n};\n"


def braced(items: list[str]) -> str:
    """`{ item, item, }`, one item a line; a multi-line item (a nested initialiser) is indented."""
    return "{\n" + "".join("    " + item.replace("\n", "\n    ") + ",\n" for item in items) + "}"


def struct_init(fields: dict[str, str]) -> str:
    """A designated initialiser, one `.field = value,` a line: it names what each value is."""
    return braced([f".{k} = {v}" for k, v in fields.items()])


def sizeof(ctype: str) -> int:
    """Bytes of a fixed-width integer or float C type: int16_t -> 2."""
    return 4 if ctype == "float" else np.dtype(ctype.removesuffix("_t")).itemsize

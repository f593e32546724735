"""Cycles on a Cortex-M4 from a QEMU execution trace: what the instruction counts of -icount leave out.

QEMU does not model time, so the cycles are costed here: `qemu-system-arm -d in_asm,exec,nochain` (without
-icount, which also logs blocks that never ran) prints each translated block's disassembly once and one line
per block executed. Each distinct block is costed once with the Cortex-M4 TRM's timings (`block_cycles`, a
pure function of the instruction text), each execution adds the pipeline refill if control left the block
non-sequentially, and the executions are counted per part of the firmware. The M7 (dual issue, caches)
takes this only as an estimate.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from ..errors import ExitCode, ToolkitError
from ..lifetime import in_group


@dataclass(frozen=True)
class Timing:
    """Cortex-M4 TRM (DDI 0439, tables 3-1 and 7-1), zero wait states. Where the TRM gives a range, the value
    picked is here."""
    refill: int = 2      # P: a taken branch's pipeline refill, 1..3 by the target's alignment and width
    divide: int = 12     # SDIV/UDIV: 2..12, ends early on small quotients; the worst case (they are rare)
    fp_divide: int = 14  # VDIV, VSQRT
    fp_mac: int = 3      # VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS


M4 = Timing()

_COND = frozenset("eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al".split())
_BRANCH = frozenset("b bl blx bx cbz cbnz".split())
_NO_DEST = frozenset("cmp cmn tst teq it nop bkpt pld pli dmb dsb isb msr cpsid cpsie svc wfi wfe sev vcmp vcmpe "
                     "vmrs vmsr".split())
_REG = re.compile(r"\b(r\d+|sb|sl|fp|ip|sp|lr|pc)\b")


def _base(mnemonic: str) -> str:
    """The mnemonic without its width (.w/.n), data type (.f32) or condition (bne -> b, ldreq -> ldr)."""
    m = mnemonic.split(".")[0]
    if m[:2] == "it":
        return "it"
    if m not in _BRANCH and m[-2:] in _COND and len(m) > 2:
        return m[:-2]
    return m


def _reglist(operands: str) -> int:
    """How many registers a {list} names: {r4, r5, lr} -> 3, {d8, d9} -> 4 words, {r4-r7} -> 4."""
    inner = operands[operands.index("{") + 1:operands.index("}")]
    n = 0
    for part in inner.split(","):
        lo, _, hi = part.strip().partition("-")
        width = 2 if lo.startswith("d") else 1
        n += width * (int(hi[1:]) - int(lo[1:]) + 1 if hi else 1)
    return n


def _address_regs(operands: str) -> set[str]:
    return set(_REG.findall(operands[operands.find("["):operands.find("]") + 1])) if "[" in operands else set()


@dataclass(frozen=True)
class _Instr:
    kind: str              # "load" (single, pipelines), "store", "other"
    cycles: int            # alone, without a taken branch's refill
    dest: str | None       # the core register a data-processing instruction writes (the address interlock)
    addr: frozenset = frozenset()


def instruction(text: str, timing: Timing = M4) -> _Instr:
    """One instruction, as QEMU's disassembler prints it ("ldr.w r3, [r2, #0xd88]"), costed alone."""
    mnemonic, _, operands = text.strip().partition(" ")
    m, operands = _base(mnemonic), operands.strip()
    first = operands.split(",")[0].strip()
    addr = frozenset(_address_regs(operands))
    if m in ("ldm", "ldmia", "ldmdb", "pop", "stm", "stmia", "stmdb", "push", "vldmia", "vldmdb", "vstmia",
             "vstmdb", "vpush", "vpop", "vldm", "vstm"):
        return _Instr("other", 1 + _reglist(operands), None)          # 1+N (N: words moved)
    if m in ("ldrd", "strd", "ldrexd", "strexd"):
        return _Instr("other", 3, None)                               # 1+N, pipelines with nothing
    if m.startswith("ldr") or m in ("vldr", "ldrex"):
        return _Instr("load", 2, first, addr)                         # 2; N back to back: N+1
    if m.startswith("str") or m == "vstr":
        register_offset = len(addr) > 1 and "#" not in operands[operands.find("["):]
        return _Instr("store", 2 if register_offset or m == "vstr" else 1, None, addr)
    if m in ("sdiv", "udiv"):
        return _Instr("other", timing.divide, first)
    if m in ("vdiv", "vsqrt"):
        return _Instr("other", timing.fp_divide, None)
    if m in ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"):
        return _Instr("other", timing.fp_mac, None)
    if m == "vmov" and operands.count(",") >= 2:                      # two core registers <-> FP registers
        return _Instr("other", 2, None)
    if m in ("tbb", "tbh"):
        return _Instr("other", 2, None)                               # 2+P: the refill is the trace's
    if m in _BRANCH or m in _NO_DEST or m.startswith("v") or not _REG.fullmatch(first):
        return _Instr("other", 1, None)
    return _Instr("other", 1, first)                                  # ALU, MUL/MLA/SMLAD/SMLAL: 1


def block_cycles(instructions: Sequence[str], timing: Timing = M4) -> int:
    """Cycles of a straight-line run of instructions, without the refill of a taken branch at its end.

    A load or store right after a load takes a cycle less (its address phase overlaps the load's data phase)
    unless its address needs the loaded register; a load or store whose address a data-processing
    instruction just wrote waits a cycle (no forwarding path). TRM section 3.3.2."""
    total, prev = 0, None
    for text in instructions:
        ins = instruction(text, timing)
        cycles = ins.cycles
        if prev is not None and ins.kind in ("load", "store"):
            if prev.kind == "load" and prev.dest not in ins.addr:
                cycles = max(1, cycles - 1)
            elif prev.kind == "other" and prev.dest in ins.addr:
                cycles += 1
        total += cycles
        prev = ins
    return total


# --- the trace -------------------------------------------------------------------------------------------

# in_asm: "IN: symbol", then "0x0800043c:  f04f 22e0  mov.w    r2, #-0x1fff2000" lines, then a blank line
_BLOCK = re.compile(rb"^IN: ?(.*)\n((?:0x.*\n)+)\n", re.M)
_INSN = re.compile(rb"^0x([0-9a-f]+):  ((?:[0-9a-f]{4} )+) *(.*)$", re.M)
# exec: "Trace 0: 0x7fa6c8000100 [00800408/0800043c/00000110/ff000200] symbol" (the guest pc second);
# "Stopped execution of TB chain before ..." follows a block that was entered but did not run
_PC = re.compile(rb"\[[0-9a-f]{8}/([0-9a-f]{8})/")
_EXEC = re.compile(_PC.pattern + rb"|(Stopped execution)")
OTHER, PARTS = "other", ("frontend", "engine")


@dataclass
class Block:
    symbol: str
    instructions: list[str]
    end: int                 # the address after its last instruction: where a not-taken exit goes


@dataclass
class Trace:
    """A run's distinct blocks and, per part, how often each block ran and whether control then left it
    non-sequentially (a taken branch, a return, an exception)."""
    blocks: dict[int, Block] = field(default_factory=dict)
    runs: Counter = field(default_factory=Counter)   # (part, block pc, taken) -> executions


class _Parser:
    """Keeps only the block table and the counts while the log streams by."""

    def __init__(self, roots: dict[int, str], other: range):
        self.trace = Trace()
        self.roots, self.other = roots, other
        self.ids: dict[bytes, int] = {}     # block pc (as logged) -> dense id
        self.pcs: list[int] = []
        self.marks: list[int] = []          # per id: the part a run of it starts (-1: stays in the current)
        self.last, self.part = -1, 0
        self.names = (OTHER, *PARTS)

    def _id(self, hexpc: bytes) -> int:
        i = self.ids.get(hexpc)
        if i is None:
            pc = int(hexpc, 16)
            i = self.ids[hexpc] = len(self.pcs)
            self.pcs.append(pc)
            root = self.roots.get(pc)
            self.marks.append(self.names.index(root) if root else 0 if pc in self.other else -1)
        return i

    def feed(self, text: bytes) -> None:
        for m in _BLOCK.finditer(text):
            insns = _INSN.findall(m.group(2))
            last = insns[-1]
            self.trace.blocks[int(insns[0][0], 16)] = Block(
                m.group(1).decode(), [t.decode() for _, _, t in insns],
                int(last[0], 16) + 2 * len(last[1].split()))
        if b"Stopped" in text:  # rare: keep the order of the two kinds of line
            pcs = []
            for pc, stopped in _EXEC.findall(text):
                if not stopped:
                    pcs.append(pc)
                elif pcs:
                    pcs.pop()   # the entry of a block that was stopped before it ran
                else:
                    self.last = -1  # ... the previous chunk's last one
        else:
            pcs = _PC.findall(text)
        if not pcs:
            return
        ids = np.fromiter(map(self._id, pcs), dtype=np.int64, count=len(pcs))
        seq = np.concatenate(([self.last], ids)) if self.last >= 0 else ids
        marks = np.asarray(self.marks, dtype=np.int64)[seq]
        where = np.where(marks >= 0, np.arange(len(seq)), -1)
        np.maximum.accumulate(where, out=where)
        part = np.where(where >= 0, marks[np.maximum(where, 0)], self.part)
        ends = np.asarray([self.trace.blocks[pc].end for pc in self.pcs], dtype=np.int64)
        starts = np.asarray(self.pcs, dtype=np.int64)
        taken = starts[seq[1:]] != ends[seq[:-1]]
        keys = (part[:-1] * len(self.pcs) + seq[:-1]) * 2 + taken
        for key, n in zip(*np.unique(keys, return_counts=True)):
            rest, t = divmod(int(key), 2)
            p, i = divmod(rest, len(self.pcs))
            self.trace.runs[(self.names[p], self.pcs[i], bool(t))] += int(n)
        self.last, self.part = int(seq[-1]), int(part[-1])


def parse_trace(log: BinaryIO, roots: dict[int, str], other: range, chunk: int = 1 << 23) -> Trace:
    """A QEMU in_asm,exec,nochain log, streamed. `roots` maps a function's entry to the part it starts;
    blocks in `other` (main's own code) end it; everything else runs in the part that called it. The last
    block executed is left out (nothing follows it to say whether it branched)."""
    parser, tail = _Parser(roots, other), b""
    while True:
        data = log.read(chunk)
        text = tail + data
        cut = len(text) if not data else text.rfind(b"\n") + 1
        block = (b"\n" + text).rfind(b"\nIN:", 0, cut + 1)   # where the last "IN:" line starts in text
        if data and block >= 0 and text.find(b"\n\n", block, cut) < 0:
            cut = block              # a block's disassembly continues in the next chunk
        parser.feed(text[:cut])
        tail = text[cut:]
        if not data:
            return parser.trace


@dataclass(frozen=True)
class PartCycles:
    instructions: int
    cycles: int
    refills: int             # of the cycles: taken branches' pipeline refills

    @property
    def per_instruction(self) -> float:
        return self.cycles / self.instructions


def cost(trace: Trace, timing: Timing = M4) -> dict[str, PartCycles]:
    """Cycles and instructions per part: each block costed once, times its executions."""
    cycles = {pc: block_cycles(b.instructions, timing) for pc, b in trace.blocks.items()}
    totals: dict[str, list[int]] = {}
    for (part, pc, taken), n in trace.runs.items():
        t = totals.setdefault(part, [0, 0, 0])
        t[0] += n * len(trace.blocks[pc].instructions)
        t[1] += n * (cycles[pc] + timing.refill * taken)
        t[2] += n * timing.refill * taken
    return {part: PartCycles(*t) for part, t in totals.items()}


# --- running the qemu-f411 image -------------------------------------------------------------------------

# The functions main.c calls for each part: w2s_pipeline_feed (the front end), w2s_infer_window_f32 (the
# engine, the whole window at once).
ROOTS = {"w2s_pipeline_feed": "frontend", "w2s_infer_window_f32": "engine"}


def _symbols(elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of the ELF's functions (Thumb bit cleared)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True,
                         **in_group()).stdout
    syms = {}
    for ln in out.split("\n"):
        f = ln.split()
        if len(f) == 4 and f[2] in "tT":
            syms[f[3]] = (int(f[0], 16) & ~1, int(f[1], 16))
    return syms


def trace_image(elf: Path, wav: Path, timeout_s: float = 1800) -> Trace:
    """Run the qemu-f411 image on a WAV without -icount, logging its blocks into a pipe parsed as it comes."""
    from .device import qemu_opt_value

    syms = _symbols(elf)
    roots = {syms[name][0]: part for name, part in ROOTS.items()}
    main = range(syms["main"][0], syms["main"][0] + syms["main"][1])
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "trace"
        os.mkfifo(fifo)
        cmd = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "none",
               "-d", "in_asm,exec,nochain", "-D", str(fifo), "-semihosting-config",
               f"enable=on,target=native,arg=w2s.elf,arg={qemu_opt_value(str(wav))}", "-kernel", str(elf)]
        qemu = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                **in_group())
        timer = threading.Timer(timeout_s, qemu.kill)
        timer.start()
        try:
            with open(fifo, "rb") as log:
                trace = parse_trace(log, roots, main)
            out = qemu.communicate()[0].decode(errors="replace")
        finally:
            timer.cancel()
            qemu.kill()
            qemu.wait()
    if qemu.returncode != 0 or "summary:" not in out:
        last = out.strip().splitlines()[-1:] or ["no output"]
        raise ToolkitError(f"the traced qemu-f411 image failed on {wav.name}: {last[0][:400]}",
                           exit_code=ExitCode.CHECK_FAILED)
    return trace


def pipeline(parts: dict[str, PartCycles]) -> dict[str, PartCycles]:
    """The front end, the engine, and the two together ("pipeline"; main's loop, the WAV's reading and the
    printing are left out: a board's DMA and UART do them differently)."""
    fe, en = parts["frontend"], parts["engine"]
    return {"frontend": fe, "engine": en,
            "pipeline": PartCycles(fe.instructions + en.instructions, fe.cycles + en.cycles, fe.refills + en.refills)}

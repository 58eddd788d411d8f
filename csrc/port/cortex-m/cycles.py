#!/usr/bin/env python3
"""cycles.py — estimate the cycles of the traced q15 GRU steps from their executed instruction mix
(make -C csrc mcu-cycles; docs/EMBEDDING.md, "Cycle estimates").

    cycles.py CORE TRACE BEGIN END [LABEL ...]

TRACE ("-": standard input) is a QEMU log of port/cortex-m/bench.c built with -DBENCH_TRACE, run
with `-singlestep -d in_asm,exec,nochain` (one instruction per translation block: each executed
instruction is one "Trace" line, and its disassembly was logged once before as "0x...:  hhhh
[hhhh]  mnemonic operands"). BEGIN and END are the hex addresses of the program's trace_begin
and trace_end: the instructions executed from a call of trace_begin up to the next call of
trace_end are one region (one grt_stream_step_q15 of one model, plus the few instructions of the
two marker calls), named by the LABELs in order.

Each executed instruction gets the cycle count of its class in the core's technical reference
manual (the table below; N = registers transferred, P = pipeline refill of a taken branch, 1 to
3 on the M3/M4, counted as 2). Ignored: flash wait states and bus contention (zero-wait memory),
the pipelining of neighbouring loads and stores (each single load or store counts 2 cycles: an
upper bound on the M3/M4), IT folding (1 cycle each), branch target alignment, early termination
of the M3's long multiplies (their maximum is counted); the M0+ is taken with its single-cycle
multiplier. The Cortex-M7 (dual issue) and M55 (beats, dual issue) are not estimated: a per-
instruction table would not describe them.
"""

import re
import sys

P = 2  # pipeline refill after a taken branch (M3/M4: 1..3)

CONDITIONS = (
    "eq",
    "ne",
    "cs",
    "hs",
    "cc",
    "lo",
    "mi",
    "pl",
    "vs",
    "vc",
    "hi",
    "ls",
    "ge",
    "lt",
    "gt",
    "le",
    "al",
)
BRANCHES = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex"}
STORES = {"str", "strb", "strh", "strex"}
MULTIPLE = {"ldm", "ldmia", "ldmdb", "ldmfd", "stm", "stmia", "stmdb", "stmfd", "push", "pop"}
DOUBLE = {"ldrd", "strd"}
MUL = {
    "mul",
    "muls",
    "smulbb",
    "smulbt",
    "smultb",
    "smultt",
    "smulwb",
    "smulwt",
    "smmul",
    "smmulr",
    "smuad",
    "smusd",
    "sxtb16",
}
MAC = {
    "mla",
    "mls",
    "smlabb",
    "smlabt",
    "smlatb",
    "smlatt",
    "smlad",
    "smladx",
    "smlsd",
    "smmla",
    "smmlar",
    "smmls",
}
LONG_MUL = {"smull", "umull"}
LONG_MAC = {"smlal", "umlal", "smlald", "smlsld", "umaal"}
DIV = {"sdiv", "udiv"}


def cycles_of(core, base, nregs, taken, to_pc):
    """Cycles of one executed instruction of the class `base` on `core` (Arm TRMs: Cortex-M0+
    DDI 0484, M3 DDI 0337, M4 DDI 0439, "Instruction set summary" / "Processor instructions")."""
    if core == "m0p":
        if base in BRANCHES:
            return {"bl": 3, "blx": 2, "bx": 2}.get(base, 2 if taken else 1)
        if base in LOADS or base in STORES:
            return 2
        if base in MULTIPLE:
            return 1 + nregs + (2 if to_pc else 0)  # POP {..., pc}: 3 + N
        return 1  # data processing, MULS (single-cycle multiplier)
    # Cortex-M3 / M4
    if base in BRANCHES:
        return 1 + P if taken else 1
    if base in LOADS:
        return 2 + (P if to_pc else 0)
    if base in STORES:
        return 2
    if base in MULTIPLE or base in DOUBLE:
        return 1 + nregs + (P if to_pc else 0)
    if base in DIV:
        return 12
    if core == "m3":
        if base in MAC:
            return 2
        if base in LONG_MUL:
            return 5
        if base in LONG_MAC:
            return 7
    return 1  # data processing, and on the M4 every multiply and DSP instruction


def base_of(mnemonic):
    m = mnemonic.lower().split(".")[0]
    known = BRANCHES | LOADS | STORES | MULTIPLE | DOUBLE | MUL | MAC | LONG_MUL | LONG_MAC | DIV
    if m in known:
        return m
    for c in CONDITIONS:  # a conditional form (bne, ldrlt, addeq ...)
        if m.endswith(c) and m[: -len(c)] in known:
            return m[: -len(c)]
    return m


def count_regs(operands):
    lst = re.search(r"\{([^}]*)\}", operands)
    if not lst:
        return 2 if operands else 0  # ldrd/strd: two registers
    n = 0
    for part in lst.group(1).split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(re.sub(r"\D", "", r) or 0) for r in part.split("-"))
            n += hi - lo + 1
        elif part:
            n += 1
    return n


def main():
    core, path, begin, end = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), int(sys.argv[4], 16)
    labels = sys.argv[5:]
    insn = {}  # pc -> (length in bytes, base mnemonic, registers transferred, writes pc)
    regions, counts, active, prev = [], None, False, None
    asm_re = re.compile(r"^0x([0-9a-f]+):\s+((?:[0-9a-f]{4} )+)\s*(\S+)\s*(.*)$")
    exec_re = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")

    def account(pc, next_pc):
        length, base, nregs, to_pc = insn[pc]
        taken = next_pc is not None and next_pc != pc + length
        c = cycles_of(core, base, nregs, taken, to_pc)
        cls = counts.setdefault(base, [0, 0])
        cls[0] += 1
        cls[1] += c

    with sys.stdin if path == "-" else open(path, errors="replace") as f:
        for line in f:
            m = asm_re.match(line)
            if m:
                pc = int(m.group(1), 16)
                operands = m.group(4)
                base = base_of(m.group(3))
                to_pc = "pc" in re.sub(r"\[.*?\]", "", operands) and base not in BRANCHES
                nregs = count_regs(operands) if base in MULTIPLE or base in DOUBLE else 0
                insn[pc] = (2 * len(m.group(2).split()), base, nregs, to_pc)
                continue
            m = exec_re.match(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if active and prev is not None:
                account(prev, pc)
            prev = pc if active else None
            if pc == begin:
                active, counts, prev = True, {}, pc
            elif pc == end and active:
                active, prev = False, None
                regions.append(counts)
    for k, counts in enumerate(regions):
        n = sum(v[0] for v in counts.values())
        c = sum(v[1] for v in counts.values())
        top = sorted(counts.items(), key=lambda kv: -kv[1][1])[:8]
        mix = " ".join(f"{b} {v[0]}/{v[1]}" for b, v in top)
        name = labels[k] if k < len(labels) else f"step {k}"
        print(
            f"cycles {core} {name}: {n} instructions, {c} cycles ({c / n:.2f} an instruction) | "
            f"top classes (instructions/cycles): {mix}"
        )
    if not regions:
        print(f"cycles {core}: no traced region found", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

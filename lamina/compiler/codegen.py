"""Writing a recording out as one Python function over arrays, and compiling it.

The replay of a recorded step is a straight-line function: the guards first (the modules'
train/eval mode, each parameter's shape, dtype and ``requires_grad``), then each external
tensor's array read once, then the recorded lines in order, each array dropped (``del``) right
after its last use so that the replay holds no more memory than eager mode does, and last the
outputs wrapped as tensors. Reading the generated source (``CompiledFunction.source``) shows
exactly what a replay does.
"""

from __future__ import annotations

import re

import numpy as np

from lamina.compiler.recorder import MISS, Recorder

__all__ = ["build"]

_NAME = re.compile(r"\b[aevgrh]\d+\b")


def build(rec: Recorder, template, title: str):
    """``(replay, source)``: the replay function of ``rec`` (arrays of the inputs in, the output
    as ``template`` describes it out, or ``MISS`` when a guard fails) and its source."""
    ns = rec.ns
    head = []
    conds = []
    for m, training in rec.modules.values():
        conds.append(f"{_const(rec, m)}.training is not {training}")
    for name, t, arr in rec.externals:
        big = name.upper()
        head.append(f"{name} = {big}._data")
        conds.append(f"{name}.shape != {_const(rec, arr.shape)} or {name}.dtype != "
                     f"{_const(rec, arr.dtype)} or {big}.requires_grad is not "
                     f"{bool(t.requires_grad)}")
    body = []
    if conds:
        # the modules' mode first (no array read before it), then the externals' arrays
        mode = [c for c in conds if ".training" in c]
        rest = [c for c in conds if ".training" not in c]
        if mode:
            body.append(f"if {' or '.join(mode)}:\n    return MISS")
        body.extend(head)
        if rest:
            body.append(f"if {' or '.join(rest)}:\n    return MISS")
    else:
        body.extend(head)
    ret = "return " + _output(rec, template)
    ret_uses = set(_NAME.findall(ret))
    lines = rec.lines
    last = {}
    for i, (_, uses, defs) in enumerate(lines):
        for n in uses | defs:
            last[n] = i
    frees = {}
    for n, i in last.items():
        if n not in ret_uses:
            frees.setdefault(i, []).append(n)
    for n in rec.arg_names:                     # arguments no line uses
        if n not in last and n not in ret_uses:
            frees.setdefault(-1, []).append(n)
    for name, _, _ in rec.externals:
        if name not in last and name not in ret_uses:
            frees.setdefault(-1, []).append(name)
    if -1 in frees:
        body.append(f"del {', '.join(sorted(frees[-1]))}")
    main = []
    for i, (code, _, _) in enumerate(lines):
        main.append(code)
        if i in frees:
            main.append(f"del {', '.join(sorted(frees[i]))}")
    main.append(ret)
    if rec.ignore_overflow:     # one errstate for the replay's sigmoids (see ``special``)
        ns["_errstate"] = np.errstate
        body.append("with _errstate(over='ignore'):")
        main = ["    " + m.replace("\n", "\n    ") for m in main]
    body.extend(main)
    src = (f"def replay({', '.join(rec.arg_names)}):\n    \"\"\"{title}\"\"\"\n"
           + "".join("    " + b.replace("\n", "\n    ") + "\n" for b in body))
    ns["MISS"] = MISS
    code = compile(src, f"<lamina.compile: {title}>", "exec")
    exec(code, ns)  # noqa: S102  (our own generated source)
    return ns["replay"], src


def _const(rec, value) -> str:
    return rec.const(value)


def _output(rec, template) -> str:
    kind, value = template
    if kind == "t":
        return f"_make({value})"
    if kind == "c":
        return _const(rec, value)
    if kind is dict:
        return "{" + ", ".join(f"{_const(rec, k)}: {_output(rec, v)}"
                               for k, v in value.items()) + "}"
    items = ", ".join(_output(rec, v) for v in value)
    if kind is list:
        return f"[{items}]"
    if kind is tuple:
        return f"({items}{',' if len(value) == 1 else ''})"
    return f"{_const(rec, kind)}({items})"      # a named tuple

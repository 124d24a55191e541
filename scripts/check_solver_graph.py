#!/usr/bin/env python3
"""Prints the solver unit's include and call graphs and fails on a cycle or an oversized file.

Usage: scripts/check_solver_graph.py [BUILD_DIR] [--unit DIR] [--max-lines N] [--max-func N]

Include graph: every `#include "..."` between the unit's own files (planner/solve/*.c, *.h).
Call graph: from the built object files (nm): file A -> file B when A uses a symbol B defines,
so static helpers are invisible and every edge is a real dependency between files. Without
BUILD_DIR (or when the objects are missing) only the include graph and the sizes are checked.
Exit 0 when there is no cycle, no file over --max-lines (800) and no function over --max-func
(100) lines; 1 otherwise, naming what broke the rule."""
import glob
import os
import re
import subprocess
import sys


def find_cycle(graph):
    """Returns one cycle (list of nodes) or None. Iterative DFS with colours."""
    colour = {n: 0 for n in graph}
    for root in sorted(graph):
        if colour[root]:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            if nxt not in colour:
                continue
            if colour[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == 0:
                colour[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def include_graph(unit):
    files = sorted(glob.glob(os.path.join(unit, "*.[ch]")))
    names = {os.path.basename(f) for f in files}
    graph = {}
    for f in files:
        base = os.path.basename(f)
        deps = set()
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m and m.group(1) in names and m.group(1) != base:
                    deps.add(m.group(1))
        graph[base] = deps
    return graph


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True,
                         check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, used


def call_graph(objdir):
    objs = sorted(glob.glob(os.path.join(objdir, "*.c.o")))
    if not objs:
        return None
    defs, uses = {}, {}
    for o in objs:
        name = os.path.basename(o)[:-2]  # x.c
        defs[name], uses[name] = symbols(o)
    owner = {}
    for name, ds in defs.items():
        for s in ds:
            owner[s] = name
    graph = {}
    for name, us in uses.items():
        graph[name] = {owner[s] for s in us if s in owner and owner[s] != name}
    return graph


def long_functions(path, limit):
    """Functions (a definition starting at column 0, ending at a '}' in column 0) longer than
    limit lines, counting from the signature's first line to the closing brace."""
    bad = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if start is None and re.match(r"^[A-Za-z_][^;()]*\b([A-Za-z_]\w*)\s*\(", line) \
                and not line.startswith(("typedef", "struct", "#", "static inline")) \
                and not line.rstrip().endswith(";"):
            start = i
            name = re.match(r"^[A-Za-z_][^;(]*?\b([A-Za-z_]\w*)\s*\(", line).group(1)
        elif start is not None and line.startswith("}"):
            n = i - start + 1
            if n > limit:
                bad.append((name, n))
            start = None
        elif start is not None and line.rstrip().endswith(";") and i == start:
            start = None
    return bad


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    unit = os.path.join(here, "..", "planner", "solve")
    build, max_lines, max_func = None, 800, 100
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--unit":
            unit = args.pop(0)
        elif a == "--max-lines":
            max_lines = int(args.pop(0))
        elif a == "--max-func":
            max_func = int(args.pop(0))
        else:
            build = a
    errors = []
    inc = include_graph(unit)
    print("include graph (%d files):" % len(inc))
    for f in sorted(inc):
        print("  %-16s -> %s" % (f, " ".join(sorted(inc[f])) or "-"))
    cyc = find_cycle(inc)
    if cyc:
        errors.append("include cycle: " + " -> ".join(cyc))
    calls = None
    if build:
        calls = call_graph(os.path.join(build, "planner", "solve", "CMakeFiles", "vp_solve.dir"))
    if calls is None:
        print("call graph: no objects found%s; skipped" % (" under " + build if build else ""))
    else:
        print("call graph (%d files; A -> B: A calls into B):" % len(calls))
        for f in sorted(calls):
            print("  %-16s -> %s" % (f, " ".join(sorted(calls[f])) or "-"))
        cyc = find_cycle(calls)
        if cyc:
            errors.append("call cycle: " + " -> ".join(cyc))
    for f in sorted(glob.glob(os.path.join(unit, "*.[ch]"))):
        with open(f, encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > max_lines:
            errors.append("%s: %d lines (limit %d)" % (os.path.basename(f), n, max_lines))
        if f.endswith(".c"):
            for name, length in long_functions(f, max_func):
                errors.append("%s: %s() is %d lines (limit %d)" % (os.path.basename(f), name,
                                                                    length, max_func))
    for e in errors:
        print("FAIL " + e)
    if not errors:
        print("ok: no cycles, every file <= %d lines, every function <= %d lines"
              % (max_lines, max_func))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""The engine's layers (docs/architecture.md): a file may include headers of its own layer and of
the layers below it, never above; headers include no cycle; the command-line tool includes only
the public header and its own. Exit 1, naming each offending include, when that does not hold."""
import os, re, sys

LAYERS = ["core", "scenario", "model", "results", "sim", "output", "analysis", "data", "serve"]
# analysis, data and serve are peers above output: none of them includes another.
RANK = {"core": 0, "scenario": 1, "model": 2, "results": 3, "sim": 4, "output": 5,
        "analysis": 6, "data": 6, "serve": 6}

root = sys.argv[1] if len(sys.argv) > 1 else "."
engine = os.path.join(root, "engine")
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
bad = []
graph = {}
for dirpath, _, files in os.walk(engine):
    for f in sorted(files):
        if not f.endswith((".c", ".h")):
            continue
        path = os.path.join(dirpath, f)
        rel = os.path.relpath(path, engine)
        layer = rel.split(os.sep)[0]
        text = open(path, encoding="utf-8").read()
        incs = include.findall(text)
        graph[rel] = [i for i in incs if "/" in i]
        for inc in incs:
            if layer == "cli":
                local = "/" not in inc and os.path.exists(os.path.join(engine, "cli", inc))
                if inc != "flourish.h" and not local:
                    bad.append(f"{rel}: the command-line tool includes {inc}; it may use only "
                               "flourish.h (the public API) and its own headers")
                continue
            if inc == "flourish.h":
                continue
            target = inc.split("/")[0]
            if "/" not in inc or target not in RANK:
                bad.append(f"{rel}: #include \"{inc}\" names no layer (write \"layer/file.h\")")
                continue
            if layer not in RANK:
                bad.append(f"{rel}: {layer}/ is not a layer of docs/architecture.md")
                continue
            if target != layer and RANK[target] >= RANK[layer]:
                bad.append(f"{rel}: {layer}/ includes {inc}, a layer at or above its own")

# Cycles among headers.
def visit(node, stack, seen):
    if node in stack:
        bad.append("include cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        return
    if node in seen:
        return
    seen.add(node)
    for dep in graph.get(node, []):
        if dep.endswith(".h"):
            visit(dep, stack + [node], seen)

seen = set()
for node in sorted(graph):
    visit(node, [], seen)
for b in bad:
    print(b)
print(f"check_layers: {len(graph)} files, {len(bad)} problems")
sys.exit(1 if bad else 0)

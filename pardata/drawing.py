"""Draw a task graph: Graphviz DOT text always, SVG/PNG when Graphviz's ``dot`` exists."""
from __future__ import annotations

import html
import os
import shutil
import subprocess
from typing import Mapping

from pardata.core.spec import Alias, DataNode, Fused, Task


def _label(key) -> str:
    if type(key) is tuple:
        name = str(key[0])
        rest = ", ".join(map(str, key[1:]))
        name = name.rsplit("-", 1)[0] if len(name) > 20 else name
        return f"({name}, {rest})"
    name = str(key)
    head, _, tail = name.rpartition("-")
    return head if head and len(tail) >= 8 else name


def _node_name(key, ids: dict) -> str:
    if key not in ids:
        ids[key] = f"n{len(ids)}"
    return ids[key]


def _describe(node) -> str:
    if type(node) is Task:
        return getattr(node.func, "__name__", type(node.func).__name__)
    if type(node) is Fused:
        return "+".join(_describe(n) for n in node.nodes)
    if type(node) is Alias:
        return "alias"
    return type(node.value).__name__ if type(node) is DataNode else type(node).__name__


def to_dot(graph: Mapping, keys=(), rankdir: str = "BT") -> str:
    """DOT source: tasks as ellipses labelled by function, results as boxes."""
    wanted = set(keys)
    ids: dict = {}
    lines = ["digraph pardata {", f"  graph [rankdir={rankdir}];", "  node [fontsize=10];"]
    for key, node in graph.items():
        nid = _node_name(key, ids)
        res = f"r_{nid}"
        func = html.escape(_describe(node), quote=True).replace('"', "&quot;")
        label = html.escape(_label(key), quote=True).replace('"', "&quot;")
        if type(node) is DataNode:
            lines.append(f'  {res} [shape=box, label="{label}"];')
        else:
            lines.append(f'  {nid} [shape=ellipse, label="{func}"];')
            style = ", style=bold" if key in wanted else ""
            lines.append(f'  {res} [shape=box, label="{label}"{style}];')
            lines.append(f"  {nid} -> {res};")
        for dep in node.dependencies:
            lines.append(f"  r_{_node_name(dep, ids)} -> {nid};")
    lines.append("}")
    return "\n".join(lines) + "\n"


class Drawing:
    """A drawn graph: ``.source`` is the DOT text; renders to SVG/PNG with Graphviz."""

    def __init__(self, source: str):
        self.source = source

    def __str__(self) -> str:
        return self.source

    def render(self, fmt: str) -> bytes:
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(
                f"rendering {fmt!r} needs Graphviz's 'dot' program (apt-get install graphviz); "
                "the DOT text is available as .source or with a .dot filename"
            )
        return subprocess.run([dot, f"-T{fmt}"], input=self.source.encode(), capture_output=True,
                              check=True).stdout

    def _repr_svg_(self):
        return self.render("svg").decode() if shutil.which("dot") else None


def draw(graph: Mapping, keys=(), filename: str | None = None, format: str | None = None,
         rankdir: str = "BT") -> Drawing:
    """Draw ``graph``; write it to ``filename`` (``.dot``, ``.svg``, ``.png``, ...) if given."""
    drawing = Drawing(to_dot(graph, keys, rankdir))
    if filename is not None:
        fmt = format or os.path.splitext(filename)[1].lstrip(".") or "dot"
        if fmt in ("dot", "gv"):
            data = drawing.source.encode()
        else:
            data = drawing.render(fmt)
        with open(filename, "wb") as f:
            f.write(data)
    return drawing

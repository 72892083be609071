"""Rule: one task per partition for each run of partition-wise nodes.

Nodes are visited from the output down. A ``Blockwise`` node joins the group of its
users when every user is a partition-wise node of one and the same group with the same
number of partitions; otherwise it starts a group of its own. So ``read -> filter ->
assign -> chunk`` is one task per partition, and so is a diamond like
``df[df.x > 0]`` (the reader feeds both the comparison and the filter). A node used by
a shuffle, a reduction's combine, or two different groups is computed once, in its own
group, and its result shared.
"""
from __future__ import annotations

from functools import cached_property

from pardata.core.spec import Fused
from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.expr import Expr, dependents, node, walk


@node
class FusedBlockwise(Expr):
    """Several partition-wise nodes run as one task per partition; ``exprs[-1]`` is the output."""

    exprs: tuple

    @property
    def _root(self) -> Expr:
        return self.exprs[-1]

    @cached_property
    def _name(self):
        return self._root._name

    @cached_property
    def _meta(self):
        return self._root._meta

    @cached_property
    def divisions(self):
        return self._root.divisions

    @property
    def _is_broadcast(self):  # type: ignore[override]
        return self._root._is_broadcast

    def children(self):
        inner = {e._name for e in self.exprs}
        out: dict = {}
        for e in self.exprs:
            for c in e.children():
                if c._name not in inner:
                    out.setdefault(c._name, c)
        return list(out.values())

    def _layer(self):
        graph = {}
        for i in range(self.npartitions):
            nodes = tuple(e._task(i) for e in self.exprs)
            graph[(self._name, i)] = Fused((self._name, i), nodes)
        return graph

    def _describe(self):
        names = " <- ".join(e._describe() for e in reversed(self.exprs))
        return f"Fused[{names}]"


def _fusable(e: Expr) -> bool:
    return isinstance(e, Blockwise)


def fuse(root: Expr) -> Expr:
    order = list(walk(root))
    by_name = {e._name: e for e in order}
    users = dependents(root)
    group_of: dict = {}  # name -> name of the group's output node
    for e in reversed(order):  # users before the nodes they use
        if not _fusable(e):
            continue
        parents = users.get(e._name, [])
        groups = {group_of.get(p) for p in parents}
        if parents and len(groups) == 1 and None not in groups:
            (g,) = groups
            out = by_name[g]
            if out.npartitions == e.npartitions and (not e._is_broadcast or out._is_broadcast):
                group_of[e._name] = g
                continue
        group_of[e._name] = e._name
    members: dict = {}
    for e in order:  # dependency order inside each group
        g = group_of.get(e._name)
        if g is not None:
            members.setdefault(g, []).append(e)
    fused = {g: FusedBlockwise(tuple(ms)) for g, ms in members.items() if len(ms) > 1}
    if not fused:
        return root

    return _replace_groups(root, fused)


def _replace_groups(root: Expr, fused: dict) -> Expr:
    """Rebuild the plan with each fused group's output replaced by its FusedBlockwise.

    Names do not change (a FusedBlockwise is named after its output), so members keep
    referring to their inputs by name and only the external inputs need replacing.
    """
    new: dict = {}
    for e in walk(root):  # inputs before the nodes using them
        if e._name in fused:
            group = fused[e._name]
            subs = {c._name: new[c._name] for c in group.children()}
            out = FusedBlockwise(tuple(m.replace_children(subs) for m in group.exprs))
        else:
            subs = {c._name: new[c._name] for c in e.children() if c._name in new}
            out = e.replace_children(subs) if subs else e
        new[e._name] = out
    return new[root._name]

"""``Client.why(key)``: the scheduler's chain of causes for a key that is not done."""

from __future__ import annotations

import html

__all__ = ["Explanation", "why"]


class Explanation:
    """A chain of causes, most direct first; each cause explains the one above it.

    >>> e = Explanation("c", [(0, "'c' is waiting for 1 of its 2 input(s)"),
    ...                        (1, "input 'b' is assigned to worker 'w2', which is paused")])
    >>> print(e)
    'c' is waiting for 1 of its 2 input(s)
      input 'b' is assigned to worker 'w2', which is paused
    >>> e.causes[-1]
    "input 'b' is assigned to worker 'w2', which is paused"
    """

    def __init__(self, key, lines) -> None:
        self.key = key
        self.lines = [(int(depth), str(text)) for depth, text in lines]

    @property
    def causes(self) -> list[str]:
        return [text for _, text in self.lines]

    def __str__(self) -> str:
        return "\n".join("  " * depth + text for depth, text in self.lines)

    def __repr__(self) -> str:
        return str(self)

    def __contains__(self, text: str) -> bool:
        return any(text in line for line in self.causes)

    def _repr_html_(self) -> str:
        items = "".join(
            f'<li style="margin-left:{1.2 * depth:.1f}em">{html.escape(text)}</li>' for depth, text in self.lines
        )
        return f'<ul style="list-style:none;padding-left:0">{items}</ul>'


async def why(core, key) -> Explanation:
    """Ask the scheduler behind ``core`` (a ``ClientCore``) why ``key`` is not done."""
    key = getattr(key, "key", key)  # a Future
    data, _ = await core.query("why", keys=[key])
    return Explanation(key, data)

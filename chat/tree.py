"""A conversation's messages as a tree: each message has a parent (the first has none), the
messages with the same parent are versions of one another, and a branch is the path from
the first message down to a leaf. Pure data: built from (id, parent id, role) rows, so it
never loads a message's text.

A reply with tool rounds is a chain (assistant → tool → … → assistant): its versions are
the siblings of its FIRST assistant message, whose parent is the user's message.
"""

from __future__ import annotations

from collections.abc import Iterable

REPLY_ROLES = {"assistant", "tool"}  # the messages a reply is made of, round after round


class Tree:
    def __init__(self, rows: Iterable[tuple[int, int | None, str]]) -> None:
        self.parent: dict[int, int | None] = {}
        self.role: dict[int, str] = {}
        self.children: dict[int | None, list[int]] = {}
        for pk, parent, role in sorted(rows):
            self.parent[pk] = parent
            self.role[pk] = role
            self.children.setdefault(parent, []).append(pk)

    def __len__(self) -> int:
        return len(self.parent)

    def __contains__(self, pk: int) -> bool:
        return pk in self.parent

    def branch(self, leaf: int | None) -> list[int]:
        """The ids from the first message down to `leaf` (none for no leaf)."""
        path: list[int] = []
        seen: set[int] = set()
        while leaf is not None and leaf in self.parent and leaf not in seen:
            seen.add(leaf)  # no loop can be made through the site, but data can be edited
            path.append(leaf)
            leaf = self.parent[leaf]
        path.reverse()
        return path

    def siblings(self, pk: int) -> list[int]:
        """`pk` and its other versions, oldest first."""
        return self.children.get(self.parent.get(pk), [pk])

    def newest_leaf(self, pk: int) -> int:
        """The newest message below `pk` (or `pk`): always a leaf, since a child is newer
        than its parent. Switching to a version shows its branch down to there."""
        newest, stack, seen = pk, [pk], {pk}
        while stack:
            node = stack.pop()
            newest = max(newest, node)
            below = [child for child in self.children.get(node, ()) if child not in seen]
            seen.update(below)
            stack.extend(below)
        return newest

    def reply_start(self, pk: int) -> int:
        """The first assistant message of the reply `pk` belongs to (a round of it, or one
        of its tool results): the message whose versions are the reply's."""
        start, seen = pk, {pk}
        node = self.parent.get(pk)
        while node is not None and node not in seen and self.role.get(node) in REPLY_ROLES:
            seen.add(node)
            if self.role[node] == "assistant":
                start = node
            node = self.parent.get(node)
        return start

"""Split a document into chunks at its headings; a long section becomes overlapping windows of words.

Sections keep their heading path (``Title > Section``) so a chunk read alone still says what it is about,
and the overlap keeps a sentence that straddles a window boundary whole in at least one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TOKEN = re.compile(r"\S+\s*")
# A section shorter than this is merged into the next one (a title with a one-line lead, say).
MIN_SECTION_WORDS = 12


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    heading: str
    content: str

    def embedding_text(self) -> str:
        return f"{self.heading}\n{self.content}"


def sections(title: str, text: str) -> list[tuple[str, str]]:
    """(heading path, body) per section, in document order; headings inside code fences are text."""
    path: list[tuple[int, str]] = []
    out: list[tuple[str, list[str]]] = [(title, [])]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            level, name = len(match.group(1)), match.group(2).strip()
            path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, name)]
            names = [n for _, n in path]
            if names and names[0] != title:
                names.insert(0, title)
            out.append((" > ".join(dict.fromkeys(names)), []))
        else:
            out[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in out]


def chunk(title: str, text: str, words: int, overlap: int) -> list[Chunk]:
    """Chunks of at most ``words`` words; windows inside a section repeat ``overlap`` words."""
    overlap = min(overlap, words // 2)
    merged: list[tuple[str, str]] = []
    carry = ""
    for heading, body in sections(title, text):
        body = f"{carry}\n\n{body}".strip() if carry else body
        if len(body.split()) < MIN_SECTION_WORDS:
            carry = body
            continue
        carry = ""
        merged.append((heading, body))
    if carry:
        if merged:
            merged[-1] = (merged[-1][0], f"{merged[-1][1]}\n\n{carry}")
        else:
            merged.append((title, carry))
    chunks: list[Chunk] = []
    for heading, body in merged:
        tokens = _TOKEN.findall(body)
        start = 0
        while True:
            window = tokens[start : start + words]
            chunks.append(Chunk(len(chunks), heading, "".join(window).strip()))
            if start + words >= len(tokens):
                break
            start += words - overlap
    return chunks

"""Split a document into chunks at its headings; a long section becomes overlapping windows of words.

Sections keep their heading path (``Title > Section``) so a chunk read alone still says what it is about,
and the overlap keeps a sentence that straddles a window boundary whole in at least one chunk. Only Markdown
(and HTML, converted to Markdown by the loader) has headings: in plain text a line starting with ``# `` is a
shell comment or a hashtag, and making it a section title would put it in every chunk's embedding, in the
heavily weighted search field and in the citations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


HEADED_TYPES = ("markdown", "html")


def _lines(text: str) -> Iterator[tuple[str, tuple[int, str] | None]]:
    """Each line with its (level, name) when it is a Markdown heading; headings inside code fences are text."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        yield line, (len(match.group(1)), match.group(2).strip()) if match else None


def first_heading(text: str) -> str | None:
    """The first level-1 Markdown heading outside code fences: a Markdown document's own title."""
    return next((heading[1] for _, heading in _lines(text) if heading and heading[0] == 1), None)


def sections(title: str, text: str, doc_type: str = "markdown") -> list[tuple[str, str]]:
    """(heading path, body) per section, in document order; plain text is one section under its title."""
    if doc_type not in HEADED_TYPES:
        return [(title, text.strip())]
    path: list[tuple[int, str]] = []
    out: list[tuple[str, list[str]]] = [(title, [])]
    for line, heading in _lines(text):
        if heading:
            level, name = heading
            path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, name)]
            names = [n for _, n in path]
            if names and names[0] != title:
                names.insert(0, title)
            out.append((" > ".join(dict.fromkeys(names)), []))
        else:
            out[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in out]


def chunk(title: str, text: str, words: int, overlap: int, doc_type: str = "markdown") -> list[Chunk]:
    """Chunks of at most ``words`` words; windows inside a section repeat ``overlap`` words."""
    overlap = min(overlap, words // 2)
    merged: list[tuple[str, str]] = []
    carry = ""
    for heading, body in sections(title, text, doc_type):
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

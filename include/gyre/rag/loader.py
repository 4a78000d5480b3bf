"""Read a folder of Markdown, text and HTML documents into plain text with metadata and a content hash.

The hash is of the file's bytes, so the indexer can tell new, changed and deleted documents apart without
re-reading the index. HTML headings become Markdown headings so that every format is chunked the same way;
plain text has no headings (a ``#`` line there is a shell comment or a hashtag, not a section).

A file that cannot be indexed raises ``Unusable`` with a reason the indexer records, rather than failing the
folder: over the size limit, empty, binary (a NUL byte, which PostgreSQL text cannot hold) or not UTF-8.
Invalid UTF-8 is refused rather than decoded with replacement characters: those corrupt the words that the
embedding and the full-text search see, and the quoted citation, without anyone noticing, while a named
file with the offset of its first bad byte is a one-minute fix (save it as UTF-8) for its owner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

from gyre.rag.chunker import first_heading

FORMATS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_BOM = b"\xef\xbb\xbf"

# reasons a file is skipped, as recorded in rag_skipped_documents
TOO_LARGE, EMPTY, BINARY, INVALID_UTF8, UNREADABLE, DUPLICATE = (
    "too_large",
    "empty",
    "binary",
    "invalid_utf8",
    "unreadable",
    "duplicate",
)


class Unusable(Exception):
    """A file the index cannot hold, with the reason recorded for it and a detail for the person who owns it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the folder, with forward slashes
    title: str
    text: str
    content_hash: str
    doc_type: str
    category: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def scan(root: Path) -> Iterator[Path]:
    """Supported files under ``root`` in a stable order, skipping hidden files and folders."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and path.suffix.lower() in FORMATS and not any(p.startswith(".") for p in relative.parts):
            yield path


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def read(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes; a file over ``max_bytes`` is refused before it is read."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise Unusable(TOO_LARGE, f"{size:,} bytes is over the limit of {max_bytes:,} (GYRE_RAG_MAX_FILE_BYTES)")
        return path.read_bytes()
    except OSError as error:
        raise Unusable(UNREADABLE, f"{type(error).__name__}: {error.strerror or error}") from error


def decode(raw: bytes) -> str:
    """UTF-8 text (a byte-order mark is dropped) with Unix line ends; raises ``Unusable`` otherwise."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise Unusable(EMPTY, "the file is empty" if not raw else "the file holds only whitespace")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise Unusable(BINARY, f"NUL byte at offset {nul}: a binary file, or text in UTF-16; save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Unusable(INVALID_UTF8, f"not UTF-8 at byte offset {error.start}; save it as UTF-8") from error
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load(path: Path, root: Path, raw: bytes | None = None, max_bytes: int | None = None) -> Document:
    """One document; a file the index cannot hold raises ``Unusable``, which names the reason."""
    raw = read(path, max_bytes) if raw is None else raw
    text = decode(raw)
    doc_type = FORMATS[path.suffix.lower()]
    meta: dict[str, object] = {}
    if doc_type in ("markdown", "text"):  # the same optional front matter in both
        text, meta = _split_front_matter(text)
    elif doc_type == "html":
        text, meta = _html_to_markdown(text)
    if not text.strip():
        raise Unusable(EMPTY, "no text after the front matter" if meta else "no text")
    heading = first_heading(text) if doc_type in ("markdown", "html") else None
    title = str(meta.get("title") or heading or _title_from_name(path))
    tags = meta.get("tags") or ()
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return Document(
        source=path.relative_to(root).as_posix(),
        title=title.strip(),
        text=text.strip() + "\n",
        content_hash=content_hash(raw),
        doc_type=doc_type,
        category=_opt_str(meta.get("category")),
        team=_opt_str(meta.get("team")),
        tags=tuple(str(t) for t in tags),
    )


def _title_from_name(path: Path) -> str:
    """``card-testing_attack.txt`` -> ``card testing attack``: a file name says what a document is about."""
    return re.sub(r"[-_\s]+", " ", path.stem).strip() or path.name


def _opt_str(value: object) -> str | None:
    return str(value).strip() if value not in (None, "") else None


def _split_front_matter(text: str) -> tuple[str, dict[str, object]]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, {}
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return text[match.end() :], meta if isinstance(meta, dict) else {}


class _HtmlText(HTMLParser):
    """HTML to Markdown-ish text: headings as ``#``, paragraphs and list items on their own lines."""

    _BLOCKS = {"p", "div", "br", "tr", "table", "ul", "ol", "section", "article", "pre", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, object] = {}
        self._skip = 0
        self._in_title = False
        self._title: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            values = dict(attrs)
            if values.get("name") in ("category", "team", "tags") and values.get("content"):
                self.meta[str(values["name"])] = values["content"]
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_to_markdown(html: str) -> tuple[str, dict[str, object]]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", "".join(parser.parts))
    text = re.sub(r"\n{3,}", "\n\n", text)
    meta = dict(parser.meta)
    if parser._title:
        meta["title"] = " ".join("".join(parser._title).split())
    return text, meta

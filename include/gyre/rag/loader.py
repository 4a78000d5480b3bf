"""Read a folder of Markdown, text and HTML documents into plain text with metadata and a content hash.

The hash is of the file's bytes, so the indexer can tell new, changed and deleted documents apart without
re-reading the index. HTML headings become Markdown headings so that every format is chunked the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

FORMATS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)


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


def load(path: Path, root: Path) -> Document:
    """One document; undecodable bytes are replaced rather than failing the whole folder."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    doc_type = FORMATS[path.suffix.lower()]
    meta: dict[str, object] = {}
    if doc_type in ("markdown", "text"):  # the same optional front matter in both
        text, meta = _split_front_matter(text)
    elif doc_type == "html":
        text, meta = _html_to_markdown(text)
    title = str(meta.get("title") or _first_title(text, doc_type) or path.stem.replace("-", " "))
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


def _first_title(text: str, doc_type: str) -> str | None:
    if doc_type in ("markdown", "html"):
        match = _MD_TITLE.search(text)
        if match:
            return match.group(1)
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


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

"""Answer a question from the document index: retrieve, then generate (Claude or a self-hosted model), or extract.

``answer(question, filters, stream=...)`` is the function an HTTP endpoint calls. It returns an
``AnswerResult`` (or, when streaming, an ``AnswerStream`` of text deltas ending with the result). The
generated answer cites the retrieved chunks as [n]. Without a configured model (``gyre.rag.llm``), or once the
day's generation budget is spent, the answer is extractive: the most relevant sentences of the top chunks,
labelled as such. Every answer is kept in ``rag_answers`` with the passages it cites, for the nightly judge.
Bad filters or questions raise ``ValueError`` subclasses (a 400); a model that still fails after the client's
retries with exponential backoff raises ``AnswerUnavailable`` (a 503).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.rag import costs, llm, prompt, tracing
from gyre.rag.retrieval import Hit, check_question, filter_params, search

Mode = Literal["generated", "extractive"]
EXTRACTIVE_LABEL = "Extractive answer"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s+")
_QUOTE = re.compile(r"^(?:>\s?)+")
_RULE = re.compile(r":?-{3,}:?")
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "should",
        "the",
        "this",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "our",
        "my",
        "me",
        "there",
        "their",
        "about",
        "after",
        "before",
        "into",
        "not",
        "no",
    ]
)


class AnswerUnavailable(RuntimeError):
    """The language model could not be reached or kept failing after retries (an HTTP 503)."""


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    heading: str
    chunk_id: int
    score: float


@dataclass
class AnswerResult:
    question: str
    answer: str
    mode: Mode
    citations: list[Citation]
    trace_id: str | None
    model: str | None = None
    index_version: int | None = None
    usage: dict[str, int] | None = None
    cost_usd: float | None = None
    note: str | None = None  # why an answer is extractive
    latency_ms: float = 0.0
    sources: list[Citation] = field(default_factory=list)  # every chunk the answer was grounded in

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnswerStream:
    """Iterate for events: ``{"event": "delta", "text": ...}`` then ``{"event": "done", "result": {...}}``
    (or ``{"event": "error", "message": ...}`` if the stream breaks after it started)."""

    def __init__(self, events: Iterator[dict[str, Any]], mode: Mode, trace_id: str | None) -> None:
        self._events = events
        self.mode = mode
        self.trace_id = trace_id
        self.result: AnswerResult | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self._events:
            if event["event"] == "done":
                self.result = event.pop("_result")
            yield event

    def text(self) -> Iterator[str]:
        """Only the text deltas."""
        for event in self:
            if event["event"] == "delta":
                yield event["text"]


def _citation(n: int, hit: Hit) -> Citation:
    return Citation(n, hit.source, hit.title, hit.heading, hit.chunk_id, round(hit.score, 6))


def _terms(text: str) -> set[str]:
    return {w[:6] for w in _WORD.findall(text.lower()) if w not in _STOP}


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("**", "").replace("`", "") for cell in line.strip().strip("|").split("|")]


def _is_rule(line: str) -> bool:
    """The |---|:---:| line under a table's header."""
    return line.startswith("|") and all(_RULE.fullmatch(cell) for cell in _cells(line))


def sentences(content: str) -> list[str]:
    """Passages of a chunk: sentences of prose (hard-wrapped lines joined, list items apart, markup dropped),
    and each table row whole, as ``header: cell`` pairs, its cells untouched (``> 10,000`` keeps its sign)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", content):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        header: list[str] = []
        items: list[str] = []
        for line, following in zip(lines, [*lines[1:], ""], strict=True):
            if line.startswith("|"):
                cells = _cells(line)
                if _is_rule(following):  # a header row (a chunk may begin below it: rows then stand alone)
                    header = cells
                elif not _is_rule(line):
                    named = len(header) == len(cells)
                    out.append(
                        "; ".join(f"{h}: {c}" for h, c in zip(header, cells, strict=True))
                        if named
                        else " | ".join(cells)
                    )
                continue
            line = _QUOTE.sub("", line)  # a block quote's marker, not a "greater than" in the text
            if _ITEM.match(line) or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        for item in items:
            item = _ITEM.sub("", item).replace("**", "").replace("`", "").strip(" #")
            out.extend(s.strip() for s in _SENTENCE.split(item) if len(s.split()) >= 4)
    return out


def _overlaps(a: str, b: str) -> bool:
    """The same text, or one inside the other: a sentence cut by a chunk window, repeated in the next chunk."""
    a, b = " ".join(_WORD.findall(a.lower())), " ".join(_WORD.findall(b.lower()))
    return a in b or b in a


def extractive_answer(question: str, hits: Sequence[Hit], note: str, per_chunk: int = 2, passages: int = 3) -> str:
    """The passages of all retrieved chunks that share most terms with the question, each cited [n].

    Every chunk is read, so the passage holding the answer is quoted even when its chunk ranks low; a passage
    already quoted (overlapping chunks repeat text) is not quoted again under a second citation.
    """
    wanted = _terms(question)
    scored = [
        (len(_terms(s) & wanted), -n, -i, n, s)
        for n, hit in enumerate(hits, start=1)
        for i, s in enumerate(sentences(hit.content))
    ]
    chosen: list[tuple[int, int, str]] = []  # (citation, order in the chunk, passage)
    for shared, _, order, n, passage in sorted(scored, reverse=True):
        if shared == 0 or len(chosen) == passages:
            break
        if sum(c == n for c, _, _ in chosen) < per_chunk and not any(_overlaps(passage, p) for _, _, p in chosen):
            chosen.append((n, -order, passage))
    if not chosen:
        return f"{EXTRACTIVE_LABEL} ({note}): {prompt.DONT_KNOW}: no indexed document matches this question."
    lines = []
    for n in sorted({c for c, _, _ in chosen}):
        text = " ".join(p for _, _, p in sorted(x for x in chosen if x[0] == n))
        lines.append(f"- {text} [{n}]")
    return f"{EXTRACTIVE_LABEL} ({note}); the most relevant passages, quoted from the documents:\n\n" + "\n".join(lines)


def _log(result: AnswerResult, hits: Sequence[Hit]) -> None:
    """Keep the answer with the passages it cites: what the nightly judge scores it against."""
    cited = [
        {"n": c.n, "source": c.source, "chunk_id": c.chunk_id, "heading": c.heading, "content": hits[c.n - 1].content}
        for c in result.citations
    ]
    with engine().begin() as connection:
        connection.execute(
            query("rag/insert_answer.sql"),
            {
                "question": result.question,
                "answer": result.answer,
                "mode": result.mode,
                "model": result.model,
                "index_version": result.index_version,
                "trace_id": result.trace_id,
                "cited": json.dumps(cited),
            },
        )


def answer(
    question: str,
    filters: Mapping[str, Any] | None = None,
    *,
    stream: bool = False,
    settings: Settings | None = None,
) -> AnswerResult | AnswerStream:
    """Answer ``question`` from the live index, optionally narrowed by ``filters``."""
    settings = settings or get_settings()
    question = check_question(question)
    filter_params(filters)  # refuse bad filters before any work is done
    started = time.perf_counter()
    root = tracing.start_trace(
        "ask", {"question": question, "filters": dict(filters or {})}, {"stream": stream}, settings
    )
    retrieval = root.start_observation(name="retrieval", as_type="retriever", input={"question": question})
    try:
        hits = search(question, filters, settings=settings)
    except Exception as error:
        retrieval.update(level="ERROR", status_message=type(error).__name__).end()
        root.update(level="ERROR", status_message=type(error).__name__).end()
        raise
    retrieval.update(
        output=[{"n": n, "source": h.source, "heading": h.heading, "score": h.score} for n, h in enumerate(hits, 1)],
        metadata={"index_version": hits[0].version_id if hits else None, "k": settings.rag_top_k},
    ).end()
    sources = [_citation(n, hit) for n, hit in enumerate(hits, start=1)]
    base = {
        "question": question,
        "trace_id": root.trace_id,
        "index_version": hits[0].version_id if hits else None,
        "sources": sources,
    }

    note = None
    if not hits:
        note = "no indexed document matches the question"
    elif (missing := llm.missing(settings)) is not None:
        note = missing
    elif costs.spent() >= settings.rag_daily_budget_usd:
        note = f"the daily generation budget of ${settings.rag_daily_budget_usd:.2f} is spent"
    if note is not None:
        text = extractive_answer(question, hits, note)
        numbers = prompt.cited_numbers(text, len(hits))
        result = AnswerResult(
            answer=text,
            mode="extractive",
            citations=[sources[n - 1] for n in numbers],
            note=note,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            **base,
        )
        root.update(output={"answer": text, "mode": "extractive"}, metadata={"note": note}).end()
        _log(result, hits)
        if stream:
            return AnswerStream(iter([{"event": "delta", "text": text}, _done(result)]), "extractive", root.trace_id)
        return result

    model = llm.model_name(settings)
    user = prompt.user_message(question, hits)
    generation = root.start_observation(
        name="generation",
        as_type="generation",
        model=model,
        input={"system": prompt.SYSTEM_PROMPT, "messages": [{"role": "user", "content": user}]},
        model_parameters={"max_tokens": settings.anthropic_max_tokens},
        metadata={"provider": settings.llm_provider},
    )

    def fail(error: llm.LlmUnavailable) -> AnswerUnavailable:
        message = f"the language model is unavailable ({error})"
        generation.update(level="ERROR", status_message=message).end()
        root.update(level="ERROR", status_message=message).end()
        return AnswerUnavailable(message + "; try again later")

    def finish(text: str, usage: costs.Usage) -> AnswerResult:
        cost = llm.price(usage, settings)
        costs.record(usage, cost["total"])
        numbers = prompt.cited_numbers(text, len(hits))
        result = AnswerResult(
            answer=text,
            mode="generated",
            citations=[sources[n - 1] for n in numbers],
            model=model,
            usage=usage.as_details(),
            cost_usd=cost["total"],
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            **base,
        )
        generation.update(output=text, usage_details=usage.as_details(), cost_details=cost).end()
        root.update(output={"answer": text, "mode": "generated", "citations": numbers}).end()
        _log(result, hits)
        return result

    if not stream:
        try:
            reply = llm.complete(prompt.SYSTEM_PROMPT, user, settings)
        except llm.LlmUnavailable as error:
            raise fail(error) from error
        return finish(reply.text, reply.usage)

    try:
        live = llm.stream(prompt.SYSTEM_PROMPT, user, settings)  # failures (after retries) surface before any event
    except llm.LlmUnavailable as error:
        raise fail(error) from error

    def events() -> Iterator[dict[str, Any]]:
        parts: list[str] = []
        try:
            for delta in live:
                if not parts:
                    generation.update(completion_start_time=_now())
                parts.append(delta)
                yield {"event": "delta", "text": delta}
        except llm.LlmUnavailable as error:
            yield {"event": "error", "message": str(fail(error))}
            return
        yield _done(finish("".join(parts), live.usage or costs.Usage()))

    return AnswerStream(events(), "generated", root.trace_id)


def _done(result: AnswerResult) -> dict[str, Any]:
    return {"event": "done", "result": result.as_dict(), "_result": result}


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)

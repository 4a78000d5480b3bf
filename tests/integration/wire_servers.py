"""Local HTTP servers that speak three remote wire formats, so the real SDKs can be driven in tests:
the Anthropic Messages API (JSON and server-sent events, overloaded errors), the OpenAI chat-completions API
that self-hosted servers (vLLM, Ollama, llama.cpp) speak (JSON and ``data:`` chunks with usage in the last,
errors), and an OTLP/HTTP trace receiver at Langfuse's ingestion path (protobuf, gzip)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], state: Any) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class MessagesState:
    """What a stand-in model answers (a queue of 'ok' / status codes; 'ok' once the queue is empty)."""

    def __init__(self, text: str, usage: dict[str, int]) -> None:
        self.text = text
        self.usage = usage
        self.script: list[str | int] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def next(self) -> str | int:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"


class _ModelHandler(BaseHTTPRequestHandler):
    """What both model APIs share: a request is recorded in the state before it is answered."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _received(self) -> tuple[MessagesState, dict[str, Any]]:
        state: MessagesState = self.server.state  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with state.lock:
            state.requests.append({"path": self.path, "headers": _lower(self.headers), "body": body})
        return state, body

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class MessagesHandler(_ModelHandler):
    def do_POST(self) -> None:  # noqa: N802
        state, body = self._received()
        if self.path != "/v1/messages":
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
        outcome = state.next()
        if outcome != "ok":
            return self._json(int(outcome), OVERLOADED)
        message = {
            "id": "msg_local_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_reason": "end_turn",
            "stop_sequence": None,
        }
        if not body.get("stream"):
            return self._json(200, message | {"content": [{"type": "text", "text": state.text}], "usage": state.usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        start_usage = state.usage | {"output_tokens": 1}
        events = [
            ("message_start", {"message": message | {"content": [], "stop_reason": None, "usage": start_usage}}),
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ("ping", {}),
            *[
                ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                for piece in _pieces(state.text)
            ],
            ("content_block_stop", {"index": 0}),
            (
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": state.usage["output_tokens"]},
                },
            ),
            ("message_stop", {}),
        ]
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


class ChatCompletionsHandler(_ModelHandler):
    """``POST /v1/chat/completions``; its state's usage is in the API's form (prompt_tokens, completion_tokens,
    prompt_tokens_details.cached_tokens)."""

    def do_POST(self) -> None:  # noqa: N802
        state, body = self._received()
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": self.path, "type": "not_found", "code": None}})
        outcome = state.next()
        if outcome != "ok":
            return self._json(int(outcome), {"error": {"message": "busy", "type": "server_error", "code": None}})
        head = {"id": "chatcmpl-local-1", "created": 1767225600, "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": state.text}
            choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            return self._json(200, head | {"object": "chat.completion", "choices": [choice], "usage": state.usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        usage = (body.get("stream_options") or {}).get("include_usage")
        chunk = head | {"object": "chat.completion.chunk"} | ({"usage": None} if usage else {})

        def choice(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return chunk | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        chunks = [
            choice({"role": "assistant", "content": ""}),
            *[choice({"content": piece}) for piece in _pieces(state.text)],
            choice({}, "stop"),
            *([chunk | {"choices": [], "usage": state.usage}] if usage else []),
        ]
        for data in chunks:
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


def _pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class OtlpState:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.posts: list[tuple[str, Any]] = []  # (path, JSON body) of the other public API calls, such as scores
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()


class OtlpHandler(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP protobuf exports at /api/public/otel/v1/traces; keeps other JSON posts (scores at
    /api/public/scores) and answers them {}."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._reply(200, b"{}", "application/json")

    def do_POST(self) -> None:  # noqa: N802
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        state: OtlpState = self.server.state  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        if not self.path.endswith("/v1/traces"):
            with state.lock:
                state.posts.append((self.path, json.loads(raw or b"null")))
            return self._reply(200, b"{}", "application/json")
        request = ExportTraceServiceRequest.FromString(raw)
        with state.lock:
            state.headers.append(_lower(self.headers))
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        state.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                            }
                        )
        self._reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def _reply(self, status: int, raw: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}

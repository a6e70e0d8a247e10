"""An OpenAI-compatible /v1/chat/completions server on 127.0.0.1 for tests and the benchmark.

Deterministic: each request is routed by the "Pair reference: ..." line of the prompt. A reference can be given
a script (a queue of replies: ok, HTTP status with headers, hang past the client's timeout, malformed JSON,
an HTML page instead of JSON, hold until released); without a script, or once it is used up,
`answers[reference]` (or `default_answer`) is returned. A request without a reference is routed as "unknown".
Every request is recorded with its reference, seed (= the sample index) and JSON body, and the peak number of
requests in flight is tracked.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from distillation.scripted_teacher import chat_completion_body, request_reference


@dataclass
class Reply:
    kind: str = "ok"  # ok | status | hang | malformed | garbage | hold
    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    release: threading.Event | None = None


def ok(text: str | None = None) -> Reply:
    return Reply("ok", text=text)


def status(code: int, **headers: str) -> Reply:
    return Reply("status", status=code, headers={k.replace("_", "-"): v for k, v in headers.items()})


def hang(seconds: float) -> Reply:
    return Reply("hang", seconds=seconds)


def malformed() -> Reply:
    return Reply("malformed")


def garbage() -> Reply:
    """200 with an HTML page: what a web server or proxy at the wrong URL answers."""
    return Reply("garbage")


def hold(release: threading.Event) -> Reply:
    """Answer normally, but only once `release` is set."""
    return Reply("hold", release=release)


@dataclass(frozen=True)
class Request:
    reference: str
    seed: int | None
    at: float
    body: str = ""  # the request's JSON as sent, to check what the endpoint was told


class FakeLLM:
    def __init__(self, *, latency: float = 0.0, prompt_tokens: int = 1000, completion_tokens: int = 200):
        self.latency = latency
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.answers: dict[str, str] = {}
        self.default_answer = "<think>\n</think>\n<answer>VA: 0, VF: 0, VP: 0</answer>"
        self.scripts: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self.received = threading.Condition()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, reference: str, *replies: Reply) -> None:
        self.scripts.setdefault(reference, []).extend(replies)

    def count(self, reference: str | None = None) -> int:
        with self.lock:
            return sum(1 for request in self.requests if reference is None or request.reference == reference)

    def counts(self) -> Counter:
        with self.lock:
            return Counter(request.reference for request in self.requests)

    def times(self, reference: str) -> list[float]:
        with self.lock:
            return [request.at for request in self.requests if request.reference == reference]

    def wait_for(self, reference: str, n: int = 1, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self.received:
            while self.count(reference) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{reference} was requested {self.count(reference)} times, expected {n}")
                self.received.wait(remaining)

    def _next_reply(self, reference: str) -> Reply:
        with self.lock:
            queue = self.scripts.get(reference)
            if queue:
                return queue.pop(0)
        return ok()

    def _record(self, reference: str, seed: int | None, body: str = "") -> None:
        with self.lock:
            self.requests.append(Request(reference=reference, seed=seed, at=time.monotonic(), body=body))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        with self.received:
            self.received.notify_all()

    def _done(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def completion_body(self, reference: str, seed: int | None, text: str | None) -> dict:
        content = text if text is not None else self.answers.get(reference, self.default_answer)
        return chat_completion_body(
            content=content,
            model="fake",
            completion_id=f"chatcmpl-{reference}-{seed}",
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _send(
        self, code: int, payload: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) or its worker was killed

    def do_POST(self):  # noqa: N802 - http.server's naming
        fake: FakeLLM = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) or b"{}"
        body = json.loads(raw)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        reference, seed = request_reference(body), body.get("seed")
        fake._record(reference, seed, raw.decode("utf-8", errors="replace"))
        try:
            reply = fake._next_reply(reference)
            if fake.latency:
                time.sleep(fake.latency)
            if reply.kind == "status":
                message = json.dumps({"error": {"message": f"scripted {reply.status}", "type": "scripted"}})
                self._send(reply.status, message.encode(), reply.headers)
            elif reply.kind == "malformed":
                self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ')
            elif reply.kind == "garbage":
                self._send(200, b"<html><body>It works!</body></html>", content_type="text/html")
            else:
                if reply.kind == "hang":
                    time.sleep(reply.seconds)
                if reply.kind == "hold" and reply.release is not None:
                    reply.release.wait(120)
                payload = json.dumps(fake.completion_body(reference, seed, reply.text)).encode()
                self._send(200, payload)
        finally:
            fake._done()

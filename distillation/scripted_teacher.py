"""A scripted stand-in for a critique teacher, and the OpenAI chat-completions wire format it shares with tests.

``ScriptedTeacher`` is an OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 (a free port, a thread of
the calling process). It is not a model and never looks at the frames: it reads the private label text of each
pair prompt (distillation.prompts.private_label_text) and writes a critique that arrives at exactly those
verdicts with the same stock sentences for every pair; asked about one scored video (Aes-R1's AesCoT prompt), it
writes its tone bin's stock sentences and the hidden rating. ``./run demo`` distils the judged demo campaign with it, so
the audit queue has real filter results; every place it shows is named ``SCRIPTED_TEACHER_NAME``.

A few pairs get planted faults, chosen by the pair's id so a rerun writes the same text: one in eight leaks the
label ("As the ground truth suggests"), one in eight concludes another verdict than the label in one dimension;
the leakage and alignment filters reject those, as they would a real model's.

``cot_text`` writes a clean AesRM-CoT answer for given verdicts; the distillation tests' scripted server
(distillation/tests/fake_llm.py) answers in the same format through ``chat_completion_body``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPTED_TEACHER_NAME = "scripted-teacher (demo, not a model)"

REFERENCE = re.compile(r"(?:Pair|Video) reference: (\S+)")
PAIR_ID = re.compile(r"^pair-(\d+)$")
PRIVATE_SCORE = re.compile(r"The aesthetic rating of this video is (?P<score>[01]\.\d+)\.")
PRIVATE_LABELS = re.compile(r"Dimensions:\n(?P<dimensions>.*?)\nCriteria:\n(?P<criteria>.*?)\nYour critique", re.DOTALL)
LEAKING_PAIRS, MISMATCHED_PAIRS = 3, 6  # pair id modulo FAULT_EVERY
FAULT_EVERY = 8

OBSERVATIONS = {
    1: ("The frame shows deliberate choices that hold together across the shot.", "The frame shows uneven choices."),
    -1: ("The frame shows uneven choices.", "The frame shows deliberate choices that hold together across the shot."),
    0: ("The frame shows sound, ordinary choices.", "The frame shows similarly sound, ordinary choices."),
}


def cot_text(criteria: dict[str, int], dimensions: dict[str, int], *, names: dict[str, str] | None = None) -> str:
    """A clean AesRM-CoT answer: evidence for A, then B, then the verdict, for each criterion in the given order."""
    names = names or {}
    lines = []
    for code, verdict in criteria.items():
        about_a, about_b = OBSERVATIONS[verdict]
        lines.append(f"{code} {names.get(code, 'Criterion')}: A: {about_a} B: {about_b} Verdict: {verdict}")
    answer = ", ".join(f"{code}: {value}" for code, value in dimensions.items())
    return "<think>\n" + "\n".join(lines) + f"\n</think>\n<answer>{answer}</answer>"


def chat_completion_body(
    *, content: str, model: str, completion_id: str, prompt_tokens: int, completion_tokens: int
) -> dict:
    """An OpenAI chat.completion response with one assistant message."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _texts(body: dict) -> list[str]:
    texts = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        texts += [part.get("text") or "" for part in parts if part.get("type") == "text"]
    return texts


def request_reference(body: dict) -> str:
    """The "Pair reference: ..." (or "Video reference: ...") a distillation prompt names its subject by."""
    for text in _texts(body):
        match = REFERENCE.search(text)
        if match:
            return match.group(1)
    return "unknown"


def _verdict_lines(block: str) -> tuple[dict[str, int], dict[str, str]]:
    """ "CODE Name: 1 (A better)" lines -> ({code: verdict}, {code: name})."""
    verdicts, names = {}, {}
    for line in block.splitlines():
        head, _, value = line.rpartition(": ")
        code, _, name = head.partition(" ")
        verdicts[code], names[code] = int(value.split(" ")[0]), name
    return verdicts, names


def private_labels(body: dict) -> tuple[dict[str, int], dict[str, int], dict[str, str]] | None:
    """(dimension verdicts, criterion verdicts, criterion names) the pair prompt gives privately, or None."""
    for text in _texts(body):
        match = PRIVATE_LABELS.search(text)
        if match:
            dimensions, _ = _verdict_lines(match.group("dimensions"))
            criteria, names = _verdict_lines(match.group("criteria"))
            return dimensions, criteria, names
    return None


# a scored video's critique by its tone bin (distillation.prompts.tone_for_score), closing in that bin's words
SCORE_CRITIQUES = {
    "bad": "The frame shows uneven choices. The light and colour do not hold together. Overall it is a weak video.",
    "fair": "The frame shows sound, ordinary choices. Nothing stands out either way. Overall it is an average video.",
    "good": "The frame shows deliberate choices that hold together across the shot. Overall it is a strong video.",
}


def private_score(body: dict) -> float | None:
    """The hidden rating a scored-video prompt gives privately (distillation.prompts.score_messages), or None."""
    for text in _texts(body):
        match = PRIVATE_SCORE.search(text)
        if match:
            return float(match.group("score"))
    return None


def scripted_score_critique(score: float) -> str:
    """A scored video's critique: the stock sentences of its tone bin, then the hidden rating as the answer."""
    tone = "bad" if score < 0.4 else "fair" if score < 0.7 else "good"
    return f"<think>{SCORE_CRITIQUES[tone]}</think><answer>{score:.2f}</answer>"


def scripted_critique(body: dict) -> str:
    """The critique for one request: a scored video's by its hidden rating, or a pair's towards the private labels
    with the planted fault of its pair, if any."""
    score = private_score(body)
    if score is not None:
        return scripted_score_critique(score)
    labels = private_labels(body)
    if labels is None:
        return "The scripted teacher writes critiques of pairs and of scored videos; this request carries neither."
    dimensions, criteria, names = labels
    pair = PAIR_ID.match(request_reference(body))
    fault = int(pair.group(1)) % FAULT_EVERY if pair else None
    if fault == MISMATCHED_PAIRS and dimensions:
        first = next(iter(dimensions))
        dimensions = {**dimensions, first: 0 if dimensions[first] else 1}
    text = cot_text(criteria, dimensions, names=names)
    if fault == LEAKING_PAIRS:
        text = text.replace(": A: The frame", ": A: As the ground truth suggests, the frame", 1)
    return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"
        if not self.path.rstrip("/").endswith("/chat/completions"):
            code, payload = 404, {"error": {"message": "not found"}}
        else:
            body = json.loads(raw)
            text = scripted_critique(body)
            code, payload = (
                200,
                chat_completion_body(
                    content=text,
                    model=SCRIPTED_TEACHER_NAME,
                    completion_id=f"scripted-{request_reference(body)}",
                    prompt_tokens=len(raw) // 4,
                    completion_tokens=len(text) // 4,
                ),
            )
        encoded = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


class ScriptedTeacher:
    """``with ScriptedTeacher() as teacher:`` serves on ``teacher.url`` (an OpenAI base URL) until the block ends."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedTeacher:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

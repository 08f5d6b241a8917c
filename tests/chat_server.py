"""A local OpenAI-compatible chat server for tests: subclass `ChatHandler`, write
``reply(body) -> message dict``, and `serve` it; requests are recorded per subclass."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatHandler(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` answers ``{"choices": [{"message": reply(body)}]}``, or
    status 400 with the reply itself when it has an ``"error"`` key; any other path is a 404.
    Every request body is appended to ``type(self).requests``, its ``Authorization`` header
    (or None) to ``type(self).authorization``."""

    requests: list[dict] = []
    authorization: list[str | None] = []

    def reply(self, body: dict) -> dict:
        raise NotImplementedError

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):  # noqa: N802
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        type(self).authorization.append(self.headers.get("Authorization"))
        message = self.reply(body)
        if "error" in message:
            self.send_json(400, message)
            return
        self.send_json(
            200,
            {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message}]},
        )

    def send_json(self, code: int, obj) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connecting at once (concurrent episodes)
    daemon_threads = True


@contextmanager
def serve(handler: type[ChatHandler]) -> Iterator[str]:
    """Run ``handler`` on a free local port; yields the base URL (``.../v1``)."""
    handler.requests = []
    handler.authorization = []
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()


QUOTED = re.compile(r'"([^"]+)"')
RESULT = re.compile(r"^\d+\. (.+?) \| ", re.M)


class ResearcherHandler(ChatHandler):
    """A scripted researcher, deterministic in the request: searches the question's first
    quoted phrase, then the first result's title, then answers with the first result's
    title of that second search. Waits ``delay`` seconds per reply (a slow model); HTTP/1.1
    keep-alive, so a client's pooled connections are reused."""

    protocol_version = "HTTP/1.1"
    delay = 0.0

    def reply(self, body: dict) -> dict:
        if self.delay:
            time.sleep(self.delay)
        messages = body["messages"]
        n_tools = sum(m["role"] == "tool" for m in messages)
        last = messages[-1]["content"] or ""
        if n_tools == 0:
            question = next(m["content"] for m in messages if m["role"] == "user")
            found = QUOTED.findall(question.rpartition("Question:")[2] or question)
            return _call("medical_search", {"query": found[0] if found else question[-80:]})
        titles = RESULT.findall(last)
        if n_tools == 1 and titles:
            return _call("medical_search", {"query": titles[0]})
        return {
            "role": "assistant",
            "content": f"<answer>{titles[0] if titles else 'unknown'}</answer>",
        }


def _call(name: str, arguments: dict) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c", "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}}
        ],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.chat_server PORT_FILE [DELAY]``: serve `ResearcherHandler` in this
    process (a separate process keeps the server off the client's GIL in benchmarks); the
    base URL is written to PORT_FILE once listening."""
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    ResearcherHandler.delay = float(args[1]) if len(args) > 1 else 0.0
    with serve(ResearcherHandler) as url:
        Path(args[0]).write_text(url)
        threading.Event().wait()


if __name__ == "__main__":
    main()

"""A local OpenAI-compatible chat server for tests: subclass `ChatHandler`, write
``reply(body) -> message dict``, and `serve` it; requests are recorded per subclass."""

from __future__ import annotations

import json
import threading
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
            self.send_response(404)
            self.end_headers()
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


@contextmanager
def serve(handler: type[ChatHandler]) -> Iterator[str]:
    """Run ``handler`` on a free local port; yields the base URL (``.../v1``)."""
    handler.requests = []
    handler.authorization = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()

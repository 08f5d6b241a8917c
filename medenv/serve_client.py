"""`RemoteEnv`: a Gymnasium-style client of `medenv serve` for a trainer on another machine.

    from medenv.serve_client import RemoteEnv

    env = RemoteEnv("http://envhost:8765")
    obs, info = env.reset(seed=7, options={"split": "train"})
    while True:
        action = policy(obs)                      # the model's raw text
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    env.close()                                   # frees the server's env for this session

Each `RemoteEnv` holds one server session (opened by the first `reset`), over one pooled
``requests`` connection. Server errors (session limit, unknown session) raise
`MedenvError` with the server's message; a server that cannot be reached raises it too.
"""

from __future__ import annotations

from typing import Any

import requests

from medenv.actions import canonical_action
from medenv.errors import MedenvError


class RemoteEnv:
    """``reset``/``step``/``state``/``close`` of one session of a `medenv serve` server."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        if isinstance(timeout, bool) or not (isinstance(timeout, int | float) and timeout > 0):
            raise MedenvError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if timeout == float("inf"):
            timeout = None  # requests: wait as long as it takes
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.session_id: str | None = None
        self.episode_id: str | None = None

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            r = self.http.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise MedenvError(f"cannot reach {self.url}: {exc}") from None
        except (TypeError, ValueError) as exc:  # e.g. reset options that are not JSON
            raise MedenvError(f"cannot send {path} to {self.url}: {exc}") from None
        if r.status_code != 200:
            try:
                body = r.json()
            except ValueError:
                body = None
            # a proxy's HTML page or a JSON list: its text, not an AttributeError
            detail = body.get("detail", r.text) if isinstance(body, dict) else r.text
            raise MedenvError(f"{self.url}{path} answered HTTP {r.status_code}: {detail}")
        return r.json()

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        body: dict[str, Any] = {"seed": seed, "options": options or {}}
        if self.session_id is not None:
            body["session_id"] = self.session_id
        obs = self._call("POST", "/reset", json=body)["observation"]
        self.session_id, self.episode_id = obs["session_id"], obs["episode_id"]
        return obs["prompt"], obs["info"]

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        if self.session_id is None:
            raise MedenvError("call reset() before step()")
        # what the env itself would parse (`canonical_action`): a list of calls as JSON,
        # anything that is not JSON (bytes, a set inside a dict) as its text, as a local
        # env reads it: a served episode equals a local one, never a client-side TypeError
        parsed, text, is_json = canonical_action(action)
        payload = parsed if is_json else {"text": text}
        out = self._call("POST", "/step", json={"session_id": self.session_id, "action": payload})
        obs = out["observation"]
        return obs["text"], out["reward"], obs["terminated"], obs["truncated"], obs["info"]

    def state(self) -> dict:
        return self._call("GET", "/state", params={"session_id": self.session_id})

    def health(self) -> dict:
        return self._call("GET", "/health")

    def close(self) -> None:
        if self.session_id is not None:
            self._call("POST", "/close", json={"session_id": self.session_id})
            self.session_id = None
        self.http.close()

"""`MedResearch-v0` served over HTTP, following the OpenEnv environment-server contract.

OpenEnv (``openenv-core``) environment servers answer ``POST /reset``, ``POST /step``,
``GET /state``, ``GET /health`` (plus ``/schema`` and ``/metadata``) with JSON bodies
``{"observation": {...}, "reward": float | null, "done": bool}``; requests accept extra
fields. Upstream keeps HTTP stateless and holds sessions on a WebSocket; a remote trainer
here needs a session per rollout over plain HTTP, so (our extension, in the allowed extra
fields) ``/reset`` opens a session, returns its id as ``observation.session_id`` and the
``X-Session-Id`` header, and ``/step``, ``/state`` and ``POST /close`` take ``session_id``.
This module implements the contract with FastAPI/uvicorn (extra ``medenv[serve]``), not
with ``openenv-core``'s server, whose install pulls in Gradio and FastMCP.

- one env per session; ``max_sessions`` open at once (the next ``/reset`` without a
  session gets HTTP 503); a ``/reset`` that fails (a bad seed or option: HTTP 400) keeps
  no session it opened; sessions idle for ``session_timeout`` seconds (default
  `DEFAULT_SESSION_TIMEOUT`, an hour; 0 or None: never) are closed, by a task that looks
  every ``min(60, timeout / 4)`` s and before each request (a request to a closed one:
  HTTP 404 saying it timed out);
- every session's events go to ONE event store (one run; the server is its only writer):
  each session's episodes are tagged ``{"session": id}`` and get ids
  ``RUN-s0c<n>-e<k>``; an episode left open by a closed session is logged as ended;
- env work runs on the server's event loop, one request at a time (steps take
  milliseconds; the envs share one loaded world and one store writer).

Bad input is an HTTP 4xx whose body is ``{"detail": "<one line>"}``, never a 500 with a
traceback, never a dead server: a body that is not a JSON object, or a field of the wrong type
(``session_id`` not a string: HTTP 422), a body over `MAX_BODY_BYTES` (HTTP 413), an
unknown or closed session (HTTP 404). A bug is an HTTP 500 with one line too (its traceback
goes to the server's log).

Bodies: ``/reset`` ``{"seed", "options": {"question_id"|"split"|...}, "session_id"}``;
``/step`` ``{"action": {"text": "..."} | {"name", "arguments"} | [calls], "session_id"}``. The step
observation holds ``text`` (the tool output), ``info`` (the env's info dict),
``terminated`` and ``truncated``.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from gymnasium import error as gym_error

from medenv import __version__
from medenv.agents.concurrent import SlotStore
from medenv.env import MedResearchEnv
from medenv.errors import MedenvError, clip_message
from medenv.events.store import EventStore, new_run_id
from medenv.questions import load_questions
from medenv.workers import preload_world

try:  # the serve extra; FastAPI resolves the endpoints' annotations in this module
    from fastapi import Body, FastAPI, HTTPException, Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as AnyHTTPException  # routing's 404/405
except ImportError:  # pragma: no cover - exercised where the extra is absent
    FastAPI = None

# a request body larger than this is refused (HTTP 413) before it is read whole: an action
# is cut to `medenv.actions.ACTION_MAX_CHARS` anyway; a 1 GB body was read into memory
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_SESSION_TIMEOUT = 3600.0  # seconds a session may sit idle (a client that vanished)
_EXPIRED_KEPT = 4096  # ids of timed-out sessions remembered, for a 404 that says so


@dataclass
class Session:
    id: str
    env: Any
    slot: int
    created_at: float = field(default_factory=time.time)
    last_activity_at: float = field(default_factory=time.time)
    step_count: int = 0


SERVE_MISSING = "medenv serve needs the serve extra: pip install 'medenv[serve]'"


def require_serve() -> None:
    """One-line `MedenvError` naming the extra when FastAPI or uvicorn is missing."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        raise MedenvError(SERVE_MISSING) from None
    if FastAPI is None:
        raise MedenvError(SERVE_MISSING)


class SessionFull(Exception):
    pass


class Sessions:
    """The server's envs, one per session, all recording into one `EventStore`."""

    def __init__(
        self,
        db: str | Path | None,
        *,
        max_sessions: int = 64,
        session_timeout: float | None = DEFAULT_SESSION_TIMEOUT,
        env_kwargs: dict | None = None,
    ) -> None:
        """``session_timeout``: seconds idle before a session is closed (0 or None: never)."""
        if max_sessions < 1:
            raise MedenvError(f"--max-sessions must be at least 1, got {max_sessions}")
        self.env_kwargs = dict(env_kwargs or {})
        if not isinstance(self.env_kwargs.get("qa"), list):  # read the QA set once
            self.env_kwargs["qa"] = load_questions(
                self.env_kwargs.get("qa"), str(self.env_kwargs.get("source", "hpo"))
            )
        self.run_id = self.env_kwargs.pop("run_id", None) or new_run_id()
        self.store = EventStore(db, run_id=self.run_id) if db is not None else None
        self.max_sessions = max_sessions
        self.session_timeout = session_timeout or None
        self.sessions: dict[str, Session] = {}
        self.expired: dict[str, float] = {}  # timed-out session id -> its idle seconds
        self._slots = itertools.count()
        self._run_logged = False

    def open(self) -> Session:
        self.reap()
        if len(self.sessions) >= self.max_sessions:
            idle = time.time() - min(s.last_activity_at for s in self.sessions.values())
            free = (
                f"idle sessions close after {self.session_timeout:g} s"
                if self.session_timeout is not None
                else "sessions never close by themselves here (--session-timeout 0)"
            )
            raise SessionFull(
                f"{len(self.sessions)} sessions open, the limit is {self.max_sessions}; the "
                f"longest idle for {idle:.0f} s: clients must POST /close, and {free}"
            )
        sid = uuid.uuid4().hex
        slot = next(self._slots)
        tags = {**self.env_kwargs.get("tags", {}), "session": sid}
        kwargs = {k: v for k, v in self.env_kwargs.items() if k != "tags"}
        env = MedResearchEnv(db=None, run_id=self.run_id, tags=tags, **kwargs)
        if self.store is not None:
            env.store = SlotStore(self.store, slot)
            env._run_logged = self._run_logged  # the first session logs run_started
            self._run_logged = True
        session = Session(sid, env, slot)
        self.sessions[sid] = session
        return session

    def get(self, sid: str | None) -> Session:
        """The session ``sid`` (its idle clock restarted); KeyError when there is none (or it
        has just timed out: `reap` runs first)."""
        self.reap()
        session = self.sessions.get(sid or "") if isinstance(sid, str | None) else None
        if session is None:
            raise KeyError(sid)
        session.last_activity_at = time.time()
        return session

    def close(self, sid: str) -> bool:
        session = self.sessions.pop(sid, None) if isinstance(sid, str) else None
        if session is None:
            return False
        session.env.close()  # logs an open episode as ended (into the shared store)
        return True

    def reap(self) -> None:
        """Close the sessions idle for more than ``session_timeout`` seconds."""
        if self.session_timeout is None:
            return
        now = time.time()
        for sid, s in list(self.sessions.items()):
            if now - s.last_activity_at > self.session_timeout:
                self.close(sid)
                self.expired[sid] = now - s.last_activity_at
                if len(self.expired) > _EXPIRED_KEPT:
                    del self.expired[next(iter(self.expired))]

    @property
    def reap_every(self) -> float | None:
        """Seconds between the server's sweeps for idle sessions (None: no timeout)."""
        if self.session_timeout is None:
            return None
        return min(60.0, max(0.05, self.session_timeout / 4))

    def shutdown(self) -> None:
        for sid in list(self.sessions):
            self.close(sid)
        if self.store is not None:
            self.store.close()


def _jsonable(info: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in info.items()}


def _where(error: dict) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p != "body" or len(error["loc"]) == 1]
    return ".".join(loc) or "body"


def _validation_line(exc) -> str:
    """FastAPI's list of validation errors as one line (``body: JSON decode error ...``)."""
    parts = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        why = f" ({ctx['error']})" if isinstance(ctx.get("error"), str) else ""
        parts.append(f"{_where(error)}: {error.get('msg', 'invalid')}{why}")
    return clip_message("; ".join(parts) or "invalid request")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered HTTP 413 (one-line
    JSON) -- at once when its Content-Length says so, else once the bytes read pass it."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            length = 0
        if length > self.limit:
            return await self._too_large(send)
        seen, started, over = 0, False, False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if over:  # the app's answer to a body it could not read: the 413 instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._too_large(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send) -> None:
        body = JSONResponse(
            {"detail": f"request body over {self.limit:,} bytes"}, status_code=413
        )
        await send({"type": "http.response.start", "status": 413,
                    "headers": body.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body.body})


class _TooLarge(Exception):
    pass


def _session_id(body: dict, required: bool = True) -> str | None:
    """The body's ``session_id``: a string (or absent/null where ``required`` is False);
    anything else is HTTP 422 (a list or object id was an HTTP 500: unhashable)."""
    sid = body.get("session_id")
    if isinstance(sid, str) or (sid is None and not required):
        return sid
    if sid is None:
        return None  # looked up: "no session None" (404)
    raise HTTPException(422, f"session_id must be a string, got {type(sid).__name__}")


def create_app(sessions: Sessions):
    """The FastAPI app serving ``sessions`` (see the module docstring)."""
    if FastAPI is None:
        raise MedenvError(SERVE_MISSING)

    lock = asyncio.Lock()

    async def sweep(every: float) -> None:
        while True:  # idle sessions close while no request comes, too
            await asyncio.sleep(every)
            async with lock:
                sessions.reap()

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(sweep(sessions.reap_every)) if sessions.reap_every else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    app = FastAPI(title="medenv MedResearch-v0", version=__version__, lifespan=lifespan)
    app.add_middleware(BodyLimit)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_line(exc)}, status_code=422)

    @app.exception_handler(AnyHTTPException)
    async def http_error(request: Request, exc: AnyHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": clip_message(" ".join(detail.split()))},
                            status_code=exc.status_code, headers=exc.headers)  # fmt: skip

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # a bug: its traceback goes to the server's log; the client gets one line
        line = clip_message(f"{type(exc).__name__}: {exc}".splitlines()[0], 300)
        return JSONResponse({"detail": f"internal error ({line})"}, status_code=500)

    def session_or_404(sid: str | None) -> Session:
        try:
            return sessions.get(sid)
        except KeyError:
            idle = sessions.expired.get(sid) if isinstance(sid, str) else None
            if idle is not None:
                raise HTTPException(
                    404,
                    f"session {sid!r} was closed after {idle:.0f} s idle (the server's "
                    f"--session-timeout is {sessions.session_timeout:g} s): POST /reset opens "
                    "a new one",
                ) from None
            raise HTTPException(404, f"no session {sid!r}: POST /reset opens one") from None

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "healthy",
            "active_sessions": len(sessions.sessions),
            "max_sessions": sessions.max_sessions,
            "run_id": sessions.run_id,
        }

    @app.get("/metadata")
    async def metadata() -> dict:
        return {
            "name": "MedResearch-v0",
            "description": "Multi-hop medical research questions; tools as actions.",
            "version": __version__,
        }

    @app.get("/schema")
    async def schema() -> dict:
        text = {"type": "string"}
        return {
            "action": {"type": "object", "properties": {"text": text, "name": text,
                                                         "arguments": {"type": "object"}}},
            "observation": {"type": "object", "properties": {"text": text, "prompt": text}},
            "state": {"type": "object", "properties": {"episode_id": text,
                                                        "step_count": {"type": "integer"}}},
        }  # fmt: skip

    @app.post("/reset")
    async def reset(response: Response, body: Annotated[dict | None, Body()] = None) -> dict:
        body = body or {}
        async with lock:
            sid = _session_id(body, required=False)
            if sid is not None:
                session = session_or_404(sid)
            else:
                try:
                    session = sessions.open()
                except SessionFull as exc:
                    raise HTTPException(503, f"session limit reached: {exc}") from None
            try:
                prompt, info = session.env.reset(seed=body.get("seed"),
                                                 options=body.get("options"))  # fmt: skip
            except Exception as exc:
                if sid is None:  # a session opened by this request does not outlive it
                    sessions.close(session.id)
                if isinstance(exc, MedenvError | gym_error.Error):  # e.g. a bad seed
                    raise HTTPException(400, clip_message(str(exc))) from None
                raise
            session.step_count = 0
            response.headers["X-Session-Id"] = session.id
            return {
                "observation": {
                    "prompt": prompt,
                    "info": _jsonable(info),
                    "session_id": session.id,
                    "episode_id": session.env.episode_id,
                },
                "reward": None,
                "done": False,
            }

    @app.post("/step")
    async def step(body: Annotated[dict, Body()]) -> dict:
        async with lock:
            session = session_or_404(_session_id(body))
            action = body.get("action")
            if isinstance(action, dict) and set(action) <= {"text", "metadata"}:
                action = action.get("text", "")
            if not isinstance(action, str | dict | list):  # a list: parallel calls
                raise HTTPException(
                    422, "action must be {'text': ...}, a tool-call object or a list of them"
                )
            try:
                obs, reward, terminated, truncated, info = session.env.step(action)
            except MedenvError as exc:
                raise HTTPException(409, clip_message(str(exc))) from None
            session.step_count += 1
            return {
                "observation": {
                    "text": obs,
                    "info": _jsonable(info),
                    "terminated": bool(terminated),
                    "truncated": bool(truncated),
                },
                "reward": float(reward),
                "done": bool(terminated or truncated),
            }

    @app.get("/state")
    async def state(session_id: str) -> dict:
        session = session_or_404(session_id)
        env = session.env
        return {
            "episode_id": env.episode_id,
            "step_count": session.step_count,
            "session_id": session.id,
            "question_id": env.item.id if env.item is not None else None,
        }

    @app.post("/close")
    async def close(body: Annotated[dict, Body()]) -> dict:
        async with lock:
            sid = _session_id(body)
            if not sessions.close(sid):
                raise HTTPException(404, f"no session {sid!r}")
            return {"closed": sid}

    return app


def check_port_free(host: str, port: int) -> None:
    """One-line `MedenvError` when ``host:port`` cannot be bound (busy, or not an address
    of this machine)."""
    if not 0 < port < 65536:
        raise MedenvError(f"--port must be 1-65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MedenvError(f"--host {host!r} is not an address of this machine: {exc}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise MedenvError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (port busy? pick "
                "another --port)"
            ) from None


def serve(
    host: str,
    port: int,
    db: str | Path | None,
    *,
    max_sessions: int = 64,
    session_timeout: float | None = DEFAULT_SESSION_TIMEOUT,
    env_kwargs: dict | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until interrupted; the store is closed (all events ingested) on the way out."""
    require_serve()
    import uvicorn

    check_port_free(host, port)
    env_kwargs = dict(env_kwargs or {})
    preload_world(env_kwargs)  # the first session starts at once
    sessions = Sessions(db, max_sessions=max_sessions, session_timeout=session_timeout,
                        env_kwargs=env_kwargs)  # fmt: skip
    try:
        app = create_app(sessions)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        sessions.shutdown()

"""The HTTP API: FastAPI with LangServe routes for the chat and pipeline graphs.

Routes:
    ``/chat/*``: LangServe (invoke, batch, stream, stream_events, stream_log, playground,
        schemas) for the chat graph, with thread memory in the config's ``store``
        (``<data_dir>/checkpoints.sqlite`` by default, or PostgreSQL, shared by every worker).
        The thread comes from ``config.configurable.thread_id`` or the ``X-Thread-Id`` header;
        an input without one gets a fresh thread.
    ``GET /threads/{id}``: a thread's turns (404 for a thread never started). With an API
        key, a thread belongs to the caller who started it (``X-User-Id``, else the key):
        others get 404 on reading or continuing it.
    ``/pipeline/*``: LangServe for the pipeline graph; a run holds the data dir's run lock
        (409 while another run holds it).
    ``POST /runs``, ``GET /runs?limit=&before=``, ``GET /runs/{id}``: pipeline runs in a
        worker thread, recorded in the store's run log (``runs.jsonl`` or PostgreSQL).
    ``POST /feedback``: a 👍/👎 rating of an answer (written to ``feedback.jsonl``).
    ``/healthz`` (never behind the API key), ``/metrics`` (Prometheus).
    ``/ui``: the Chainlit app, when ``DATA_ALCHEMY_UI=1``.

Environment:
    ``DATA_ALCHEMY_DATA_DIR``, ``DATA_ALCHEMY_CONFIG``: the data dir and models.yaml (callers
    cannot change them). ``DATA_ALCHEMY_API_KEY``: when set, every route but ``/healthz``
    needs it in ``X-API-Key``. ``DATA_ALCHEMY_CORS_ORIGINS``: comma-separated origins allowed
    cross-origin (none by default). ``DATA_ALCHEMY_MAX_BODY_BYTES``: request size limit
    (default 1 MiB; 413 beyond). ``DATA_ALCHEMY_UI=1``: mount the Chainlit UI at ``/ui``.

Graph runs go through ``ainvoke``/``astream``, so LangGraph runs the sync nodes (encoding,
generation) in its thread pool and the event loop stays free.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from langchain_core.runnables import RunnableBinding, RunnableConfig
from langserve import add_routes
from langserve.api_handler import PerRequestConfigModifier
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.chat import build_chat_graph
from graph.configuration import Context
from graph.pipeline import build_pipeline_graph
from graph.state import PipelineInput
from tools import metrics
from tools.access import API_KEY_ENV, THREAD_OWNER, USER_ID, user_owner
from tools.checkpoints import describe as describe_store
from tools.checkpoints import open_async_checkpointer
from tools.config import StoreSettings
from tools.feedback import make_row, save_feedback
from tools.files import now_iso
from tools.index.search import FILTER_KEYS
from tools.index.store import normalize_date
from tools.lora import stop_generation
from tools.questions import QuestionError, check_question
from tools.runs import append_run, run_key, run_log
from tools.scheduling import RunInProgress, run_lock

log = logging.getLogger("data_alchemy.server")

ROOT = Path(__file__).resolve().parent
THREAD_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"
RUN_ID = r"^[A-Za-z0-9_\-]{1,64}$"
"""The checkpoint metadata key (from ``configurable``) naming who started a thread."""
DEFAULT_PAGE = 20
MAX_PAGE = 100
ROLES = {"human": "user", "ai": "assistant"}
RUN_ENDPOINTS = {"invoke", "batch", "stream", "stream_log", "stream_events"}
PUBLIC_PATHS = {"/healthz"}
SOURCES_REFUSED = "this server ingests only the sources of its models.yaml: drop `sources`"


@dataclass(frozen=True)
class ServerSettings:
    """What the deployment decides (from the environment by default)."""

    data_dir: Path
    config_file: str = ""
    api_key: str = ""
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    mount_ui: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerSettings:
        """Read the ``DATA_ALCHEMY_*`` variables."""
        env = dict(os.environ if env is None else env)
        config = env.get("DATA_ALCHEMY_CONFIG", "")
        return cls(
            data_dir=Path(env.get("DATA_ALCHEMY_DATA_DIR") or "data").resolve(),
            config_file=str(Path(config).resolve()) if config else "",
            api_key=env.get(API_KEY_ENV, ""),
            cors_origins=tuple(
                o.strip() for o in env.get("DATA_ALCHEMY_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            max_body_bytes=int(env.get("DATA_ALCHEMY_MAX_BODY_BYTES") or 1 << 20),
            mount_ui=env.get("DATA_ALCHEMY_UI", "") in {"1", "true", "yes"},
        )

    def to_env(self) -> dict[str, str]:
        """The ``DATA_ALCHEMY_*`` variables :meth:`from_env` reads back (for worker processes)."""
        return {
            "DATA_ALCHEMY_DATA_DIR": str(self.data_dir),
            "DATA_ALCHEMY_CONFIG": self.config_file,
            API_KEY_ENV: self.api_key,
            "DATA_ALCHEMY_CORS_ORIGINS": ",".join(self.cors_origins),
            "DATA_ALCHEMY_MAX_BODY_BYTES": str(self.max_body_bytes),
            "DATA_ALCHEMY_UI": "1" if self.mount_ui else "",
        }

    @property
    def context(self) -> Context:
        """The graphs' run context for this deployment."""
        return Context(
            data_dir=str(self.data_dir),
            config_file=self.config_file,
            allow_source_overrides=False,
        )


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ChatOptions(BaseModel):
    """What an API caller may set per chat run (``config.configurable``)."""

    # Optional, yet neither {"type": "null"} nor "default": null in the JSON schema: with
    # either, LangServe's playground shows a blank page or refuses to start.
    thread_id: str | SkipJsonSchema[None] = Field(
        None, pattern=THREAD_ID, description="conversation thread", json_schema_extra=_no_default
    )
    top_k: int | SkipJsonSchema[None] = Field(
        None, ge=1, le=100, description="facts to retrieve", json_schema_extra=_no_default
    )
    use_lora: bool | SkipJsonSchema[None] = Field(
        None, description="ask the LoRA adapter", json_schema_extra=_no_default
    )
    filters: dict[str, Any] | SkipJsonSchema[None] = Field(
        None, description='e.g. {"source": "jira"}', json_schema_extra=_no_default
    )

    @field_validator("filters")
    @classmethod
    def _known_filters(cls, filters: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, value in (filters or {}).items():
            if key not in FILTER_KEYS:
                raise ValueError(f"unknown filter {key!r}; use {', '.join(FILTER_KEYS)}")
            if key.endswith(("_after", "_before")) and normalize_date(value) is None:
                raise ValueError(f"filter {key!r} needs an ISO 8601 date, got {value!r}")
        return filters


class ChatConfig(BaseModel):
    """The config an API caller may send to ``/chat``."""

    configurable: ChatOptions | SkipJsonSchema[None] = Field(None, json_schema_extra=_no_default)


class PipelineConfig(BaseModel):
    """The pipeline takes no per-run config from callers (the data dir is the server's)."""


class ServedGraph(RunnableBinding):
    """A compiled graph as served: a caller-facing config model, server-set context."""

    config_model: Any = None

    def config_schema(self, *, include: Any = None) -> type[BaseModel]:
        """The config model LangServe validates requests against."""
        return self.config_model

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> ServedGraph:
        """Bind more config, keeping the caller-facing config model."""
        bound = super().with_config(config, **kwargs)
        bound.config_model = self.config_model
        return bound


def _fresh_thread(config: RunnableConfig) -> RunnableConfig:
    """Give each input without a thread id a new one (batch inputs each get their own)."""
    if (config.get("configurable") or {}).get("thread_id"):
        return {}
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def serve_graph(graph: Any, settings: ServerSettings, name: str, threads: bool) -> ServedGraph:
    """Wrap ``graph`` with the deployment's context, metrics and (chat) thread ids."""
    return ServedGraph(
        bound=graph,
        config={
            "configurable": {
                "data_dir": str(settings.data_dir),
                "config_file": settings.config_file,
                "allow_source_overrides": False,
            },
            "callbacks": [metrics.MetricsCallback(name)],
        },
        config_factories=[_fresh_thread] if threads else [],
        config_model=ChatConfig if threads else PipelineConfig,
    )


def caller_id(request: Request, api_key: str) -> str | None:
    """Who owns the threads a request starts: ``X-User-Id``, else a hash of the API key.

    None when the server has no key: threads are then open to every caller.

    Raises:
        HTTPException: 422 for a malformed ``X-User-Id``.
    """
    if not api_key:
        return None
    if user := request.headers.get("x-user-id"):
        if not re.match(USER_ID, user):
            raise HTTPException(422, f"X-User-Id must match {USER_ID}")
        return user_owner(user)
    given = request.headers.get("x-api-key", "")
    return "key:" + hashlib.sha256(given.encode()).hexdigest()[:16]


def _unknown_thread(thread_id: str) -> HTTPException:
    """The answer for a thread never started or owned by someone else (the same: no leak)."""
    return HTTPException(404, f"no thread {thread_id!r}: POST /chat/invoke starts one")


def _thread_config(settings: ServerSettings, chat_graph: Any) -> PerRequestConfigModifier:
    """LangServe's ``per_req_config_modifier`` for chat: the thread and its owner.

    The thread id comes from the body's config or the ``X-Thread-Id`` header. With an API
    key, the caller (:func:`caller_id`) goes into ``configurable.owner``, which LangGraph
    keeps in each checkpoint's metadata; a thread another caller started is a 404.
    """

    async def modify(config: dict[str, Any], request: Request) -> dict[str, Any]:
        header = request.headers.get("x-thread-id")
        configurable = dict(config.get("configurable") or {})
        if header and not configurable.get("thread_id"):
            if not re.match(THREAD_ID, header):
                raise HTTPException(422, f"X-Thread-Id must match {THREAD_ID}")
            configurable["thread_id"] = header
        if owner := caller_id(request, settings.api_key):
            configurable[THREAD_OWNER] = owner
            if thread := configurable.get("thread_id"):
                found = await chat_graph.checkpointer.aget_tuple(
                    {"configurable": {"thread_id": thread}}
                )
                if found and found.metadata.get(THREAD_OWNER, owner) != owner:
                    raise _unknown_thread(thread)
        return {**config, "configurable": configurable}

    return modify


@dataclass
class PipelineRun:
    """One pipeline run started through ``POST /runs``; named as in ``runs.jsonl``."""

    run_id: str
    request: dict[str, Any]
    status: str = "starting"
    start: str = field(default_factory=now_iso)
    end: str | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    """Each stage's report."""
    error: str | None = None


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A run log record as the API shows a run (its errors joined into ``error``)."""
    if "error" in record:
        return record
    errors = record.get("errors") or {}
    names = {f.name for f in fields(PipelineRun)}
    error = "; ".join(f"{k}: {v}" for k, v in errors.items()) or None
    return {**{k: v for k, v in record.items() if k in names}, "error": error}


class RunManager:
    """Pipeline runs in worker threads, one at a time per data dir (the run lock).

    Only runs in flight are held in memory; a finished run is read from the run log of the
    store (``runs.jsonl``, or the PostgreSQL table every worker shares, which also gets each
    run as it starts).
    """

    def __init__(self, graph: Any, settings: ServerSettings, store: StoreSettings) -> None:
        self._graph = graph
        self._settings = settings
        self._store = store
        self._log = run_log(store, settings.data_dir)
        self._live: dict[str, PipelineRun] = {}
        self._guard = threading.Lock()

    def start(self, request: dict[str, Any]) -> PipelineRun:
        """Start a run; blocks only until the worker holds the lock.

        Raises:
            RunInProgress: Another run (in any process) holds the data dir's lock.
        """
        run = PipelineRun(run_id=uuid.uuid4().hex[:12], request=request)
        decided = threading.Event()
        with self._guard:
            self._live[run.run_id] = run
        worker = threading.Thread(
            target=self._work, args=(run, decided), name=f"run-{run.run_id}", daemon=True
        )
        worker.start()
        decided.wait()
        if run.status == "rejected":
            raise RunInProgress(run.error or "another run is in progress")
        return run

    def _work(self, run: PipelineRun, decided: threading.Event) -> None:
        try:
            with run_lock(self._settings.data_dir):
                run.status = "running"
                if self._log.shared:
                    self._log.put(asdict(run))
                decided.set()
                state = self._graph.invoke(
                    {**run.request, "run_id": run.run_id},
                    {"callbacks": [metrics.MetricsCallback("pipeline")]},
                    context=self._settings.context,
                )
                run.stages = state.get("reports") or {}
                run.status = state.get("status") or "failed"
        except RunInProgress as exc:
            run.status, run.error = "rejected", str(exc)
        except Exception as exc:
            log.exception("pipeline run %s raised", run.run_id)
            metrics.record_error("run")
            run.status, run.error = "error", f"{type(exc).__name__}: {exc}"
            run.end = now_iso()
            append_run(self._settings.data_dir, asdict(run), self._store)
        finally:
            run.end = run.end or now_iso()
            decided.set()
            with self._guard:
                self._live.pop(run.run_id, None)

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A run in flight here, else its record in the run log (None when unknown)."""
        with self._guard:
            run = self._live.get(run_id)
        if run is not None:
            return asdict(run)
        record = self._log.get(run_id)
        return None if record is None else _public(record)

    def page(self, limit: int, before: str | None = None) -> list[dict[str, Any]]:
        """Newest first: at most ``limit`` runs, older than run ``before`` when given.

        Raises:
            KeyError: ``before`` names no run.
        """
        older_than = None
        if before is not None:
            anchor = self.get(before)
            if anchor is None:
                raise KeyError(before)
            older_than = run_key(anchor)
        with self._guard:
            live = [asdict(run) for run in self._live.values()]
        logged = [_public(r) for r in self._log.page(limit, older_than)]
        merged = {r["run_id"]: r for r in logged} | {
            r["run_id"]: r for r in live if older_than is None or run_key(r) < older_than
        }
        return sorted(merged.values(), key=run_key, reverse=True)[:limit]


class FeedbackIn(BaseModel):
    """A rating of one answer (``POST /feedback``)."""

    thread_id: str = Field("", max_length=128)
    question: str = Field(min_length=1)
    answer: str = ""
    sources: list[dict[str, Any]] = Field(default_factory=list)
    rating: Literal["up", "down"]
    error: bool = False


class ApiKeyMiddleware:
    """Require ``X-API-Key`` on every HTTP and websocket route except the public ones."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass authorized requests through; answer 401 (websockets: close 1008) otherwise."""
        if scope["type"] in ("http", "websocket") and scope["path"] not in PUBLIC_PATHS:
            given = dict(scope["headers"]).get(b"x-api-key", b"")
            if not hmac.compare_digest(given, self.api_key):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                response = JSONResponse({"detail": "missing or wrong X-API-Key"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class MetricsMiddleware:
    """Count requests and their latency by route template (never by raw path).

    Routes of a mounted app (the UI) are labelled with their mount prefix.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the whole response, streamed bodies included."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None)
            route = f"{scope.get('root_path', '')}{route}" if route else "unmatched"
            metrics.observe_request(route, scope["method"], status, time.perf_counter() - start)


def _pipeline_lock(settings: ServerSettings) -> Callable[[Request], AsyncIterator[None]]:
    async def hold_lock(request: Request) -> AsyncIterator[None]:
        if request.url.path.rsplit("/", 1)[-1] not in RUN_ENDPOINTS:
            yield
            return
        try:
            with run_lock(settings.data_dir):
                yield
        except RunInProgress as exc:
            raise HTTPException(409, str(exc)) from None

    return hold_lock


async def _json_body(request: Request) -> Any:
    """The request's JSON body (None when it has none or is not JSON).

    Raises:
        HTTPException: 400 when the body is not UTF-8 or nests too deeply to parse.
    """
    if request.method != "POST":
        return None
    if hasattr(request.state, "json_body"):  # parsed once per request, by the first reader
        return request.state.json_body
    raw = await request.body()
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except UnicodeDecodeError:
        raise HTTPException(400, "the request body is not valid UTF-8") from None
    except RecursionError:
        raise HTTPException(400, "the request body's JSON nests too deeply") from None
    except ValueError:
        body = None  # malformed JSON: each route answers it with its own 422
    request.state.json_body = body
    return body


async def _readable_body(request: Request) -> None:
    """An app-wide dependency: every JSON body can be decoded before a route reads it."""
    await _json_body(request)


def _input_guard(check: Callable[[dict[str, Any]], None]) -> Callable[[Request], Any]:
    """A dependency of a graph's routes that applies ``check`` to each input of the body."""

    async def guard(request: Request) -> None:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return
        inputs = body.get("inputs") if "inputs" in body else [body.get("input")]
        if not isinstance(inputs, list):
            raise HTTPException(422, "`inputs` must be a list of inputs")
        for item in inputs:
            if isinstance(item, dict):
                check(item)

    return guard


def _chat_input_check(settings: ServerSettings) -> Callable[[dict[str, Any]], None]:
    """Blank questions get 422 and those over ``chat.max_question_chars`` 413, before any model."""

    def check(item: dict[str, Any]) -> None:
        question = item.get("question")
        if isinstance(question, str):
            try:
                check_question(question, settings.context.settings.chat.max_question_chars)
            except QuestionError as exc:
                raise HTTPException(exc.status, str(exc)) from None

    return check


def _pipeline_input_check(item: dict[str, Any]) -> None:
    """Callers may not point the server at paths of their choosing."""
    if item.get("sources"):
        raise HTTPException(422, SOURCES_REFUSED)


def _serve_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the assets the ``fastapi-offline`` package ships, no CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: from the environment)."""
    settings = settings or ServerSettings.from_env()
    store = settings.context.settings.store
    chat_graph = build_chat_graph()
    pipeline_graph = build_pipeline_graph()
    runs = RunManager(pipeline_graph, settings, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with open_async_checkpointer(store, settings.data_dir) as saver:
            chat_graph.checkpointer = saver
            where = describe_store(store, settings.data_dir)
            log.info("API on data dir %s (threads and runs in %s)", settings.data_dir, where)
            try:
                yield
            finally:
                stop_generation()
                chat_graph.checkpointer = None

    app = FastAPI(
        title="Data Alchemy",
        version="0.1.0",
        description="Cited answers from your Jira, Git and docs; pipeline runs.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
        dependencies=[Depends(_readable_body)],
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: blank offline
        redoc_url=None,
    )
    _serve_docs(app)

    add_routes(
        app,
        serve_graph(chat_graph, settings, "chat", threads=True),
        path="/chat",
        per_req_config_modifier=_thread_config(settings, chat_graph),
        dependencies=[Depends(_input_guard(_chat_input_check(settings)))],
    )
    add_routes(
        app,
        serve_graph(pipeline_graph, settings, "pipeline", threads=False),
        path="/pipeline",
        dependencies=[
            Depends(_input_guard(_pipeline_input_check)),
            Depends(_pipeline_lock(settings), scope="request"),
        ],
        # One lock per HTTP request cannot serialize a batch's concurrent runs.
        disabled_endpoints=["batch"],
    )

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness (no API key needed)."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"])
    async def metrics_route() -> Response:
        """Prometheus metrics."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/runs", status_code=202, tags=["pipeline"])
    async def start_run(body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        """Start a pipeline run in a worker thread; poll ``GET /runs/{run_id}``."""
        schema = pipeline_graph.get_input_schema()
        settable = [k for k in PipelineInput.__annotations__ if k != "run_id"]
        if unknown := sorted(set(body or {}) - set(settable)):
            raise HTTPException(422, f"unknown keys {unknown}; a run takes {settable}")
        try:
            request = schema.model_validate(body or {}).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        _pipeline_input_check(request)
        try:
            run = await run_in_threadpool(runs.start, request)
        except RunInProgress as exc:
            raise HTTPException(409, str(exc)) from None
        return {"run_id": run.run_id, "status": run.status, "url": f"/runs/{run.run_id}"}

    @app.get("/runs", tags=["pipeline"])
    async def list_runs(
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        before: Annotated[str | None, Query(pattern=RUN_ID)] = None,
    ) -> list[dict[str, Any]]:
        """Pipeline runs, newest first, a page at a time: ``before`` is the last run_id seen."""
        try:
            return await run_in_threadpool(runs.page, limit, before)
        except KeyError:
            raise HTTPException(404, f"no run {before!r} to page from") from None

    @app.get("/runs/{run_id}", tags=["pipeline"])
    async def get_run(run_id: str) -> dict[str, Any]:
        """Status and stage reports of one run."""
        found = await run_in_threadpool(runs.get, run_id)
        if found is None:
            raise HTTPException(404, f"no run {run_id!r}")
        return found

    @app.get("/threads/{thread_id}", tags=["chat"])
    async def get_thread(thread_id: str, request: Request) -> dict[str, Any]:
        """A conversation's turns, oldest first (questions as stored: redacted).

        With an API key, only the caller who started the thread may read it.
        """
        if not re.match(THREAD_ID, thread_id):
            raise HTTPException(422, f"a thread id matches {THREAD_ID}")
        owner = caller_id(request, settings.api_key)
        state = await chat_graph.aget_state({"configurable": {"thread_id": thread_id}})
        messages = state.values.get("messages") or []
        if not messages or (owner and (state.metadata or {}).get(THREAD_OWNER, owner) != owner):
            raise _unknown_thread(thread_id)
        turns = [{"role": ROLES.get(m.type, m.type), "content": m.text} for m in messages]
        return {"thread_id": thread_id, "messages": turns}

    @app.post("/feedback", status_code=201, tags=["chat"])
    async def feedback(body: FeedbackIn) -> dict[str, Any]:
        """Record a 👍/👎 rating (a turn that errored is never stored as 👍)."""
        row = make_row(**body.model_dump())
        await run_in_threadpool(save_feedback, settings.data_dir, row)
        return row

    if settings.mount_ui:
        _mount_ui(app, settings)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Thread-Id", "X-User-Id"],
        )
    return app


def _mount_ui(app: FastAPI, settings: ServerSettings) -> None:
    """Serve the Chainlit app at ``/ui`` in this process, on the server's data dir and config.

    Chainlit keeps one app per process (its settings come from ``.chainlit/`` in the project
    root), so mount it in one API app only.
    """
    os.environ.setdefault("CHAINLIT_APP_ROOT", str(ROOT))
    os.environ["DATA_ALCHEMY_DATA_DIR"] = str(settings.data_dir)
    if settings.config_file:
        os.environ["DATA_ALCHEMY_CONFIG"] = settings.config_file
    from chainlit.utils import mount_chainlit

    mount_chainlit(app, target=str(ROOT / "chainlit_app" / "app.py"), path="/ui")


def __getattr__(name: str) -> Any:
    """``server:app`` for ``uvicorn server:app``: built on first use, from the environment.

    ``data-alchemy serve`` builds its own app with :func:`create_app` and its settings.
    """
    if name != "app":
        raise AttributeError(f"module 'server' has no attribute {name!r}")
    global app
    app = create_app()
    return app

"""The web layer: one route per verb; it parses JSON and delegates to :class:`ModelBackend`."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field

from toolkit.errors import ModelError
from toolkit.serve.backend import BadRequest, ModelBackend
from toolkit.serve.store import ANNOTATION_EVENTS, START_TRAINING

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
KNOWN_EVENTS = ANNOTATION_EVENTS | {START_TRAINING}


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413, counting the bytes as they arrive.

    Checking ``Content-Length`` alone lets a chunked body (``Transfer-Encoding: chunked``) of any size through;
    here the body is read up to the limit before the app sees it, and never past it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], send: Any) -> None:
        response = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        await response(scope, self._no_receive, send)

    @staticmethod
    async def _no_receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    tasks: list[dict[str, Any]] = Field(max_length=10_000)
    label_config: str = Field(min_length=1)
    project: str | int | None = None
    params: dict[str, Any] | None = None


class SetupRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    project: str | int | None = None
    schema_: str | None = Field(None, alias="schema")
    hostname: str | None = None
    access_token: str | None = None


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: str


def create_app(backend: ModelBackend, *, username: str | None = None, password: str | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> FastAPI:
    # With basic auth on, the interactive docs and the schema are off: they would answer without credentials.
    docs = {} if username is None else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="toolkit ML backend", version="1", **docs)
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    security = HTTPBasic(auto_error=False)

    def authorised(credentials: HTTPBasicCredentials | None = Depends(security)) -> None:
        if username is None:
            return
        if credentials is None or not (
            secrets.compare_digest(credentials.username, username) and secrets.compare_digest(credentials.password, password or "")
        ):
            raise HTTPException(401, "basic auth required", headers={"WWW-Authenticate": "Basic"})

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=400)

    @app.exception_handler(ModelError)
    async def model_error(_: Request, exc: ModelError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=503)

    @app.get("/health")
    @app.get("/")
    def health() -> dict[str, Any]:
        return {"status": "UP", "model_class": "toolkit.ModelBackend", **backend.health()}

    @app.post("/setup", dependencies=[Depends(authorised)])
    def setup(request: SetupRequest) -> dict[str, Any]:
        return backend.setup(request.model_dump(by_alias=True))

    @app.post("/predict", dependencies=[Depends(authorised)])
    def predict(request: PredictRequest) -> dict[str, Any]:
        return {"results": backend.predict(request.tasks, request.label_config)}

    @app.post("/webhook", status_code=201, dependencies=[Depends(authorised)])
    def webhook(request: WebhookRequest) -> dict[str, Any]:
        if request.action not in KNOWN_EVENTS:
            return {"status": "ignored", "action": request.action}
        backend.fit(request.action, request.model_dump())
        return {"status": "queued", "action": request.action}

    @app.post("/train", status_code=201, dependencies=[Depends(authorised)])
    def train(request: dict[str, Any] | None = None) -> dict[str, Any]:
        """Label Studio's "Start training" (older servers post here rather than send the webhook event)."""
        backend.fit(START_TRAINING, request or {})
        return {"status": "queued", "action": START_TRAINING}

    return app

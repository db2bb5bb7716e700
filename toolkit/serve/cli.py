"""``toolkit serve``: run the Label Studio ML backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from toolkit.serve.app import DEFAULT_MAX_BYTES, create_app
from toolkit.serve.backend import ModelBackend


def serve_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1 keeps it local).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 9090,
    store: Annotated[Path, typer.Option(help="Where webhook annotations are kept, and retrained model versions.")] = Path("build/backend-store"),
    retrain_config: Annotated[Path | None, typer.Option(help="Training config to retrain from (its data plus the reviewed tasks); turns retraining on.")] = None,
    retrain_every: Annotated[int, typer.Option(min=1, help="Retrain after this many new, changed or deleted annotations.")] = 50,
    retrain_interval: Annotated[float, typer.Option(min=0, help="At most one retrain per this many minutes.")] = 0.0,
    username: Annotated[str | None, typer.Option(help="Require HTTP basic auth with this user (password from $TOOLKIT_BACKEND_PASSWORD).")] = None,
    max_bytes: Annotated[int, typer.Option(help="Largest accepted request body.")] = DEFAULT_MAX_BYTES,
    device: Annotated[str, typer.Option(help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps.")] = "auto",
) -> None:
    """Serve live pre-annotations to Label Studio (ML backend protocol: /health /setup /predict /webhook /train).

    With --retrain-config the backend retrains from review in the background and swaps the new model in."""
    import logging

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")

    backend = ModelBackend(model, store=store, device=device, retrain_config=retrain_config,
                           retrain_every=retrain_every, retrain_interval_s=retrain_interval * 60)
    backend.check()
    password = os.environ.get("TOOLKIT_BACKEND_PASSWORD")
    if username and not password:
        raise typer.BadParameter("set TOOLKIT_BACKEND_PASSWORD when --username is given", param_hint="--username")
    uvicorn.run(create_app(backend, username=username, password=password, max_bytes=max_bytes), host=host, port=port)

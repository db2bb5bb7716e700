"""Shared fixtures. Tests that read ../shared skip with a message where it is absent."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.ingest import RawArticle, ingest_articles

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "articles"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared material not found at {SHARED}; these tests read it when present")
    return SHARED


@pytest.fixture(scope="session")
def shared_or_none() -> Path | None:
    """../shared for the checks that compare with it where it is present, None elsewhere."""
    return SHARED if SHARED.is_dir() else None


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Keep the push index of test projects out of the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TOOLKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny randomly initialised model trained for one epoch on the bundled reviewed sample."""
    from toolkit.train.config import load_train_config
    from toolkit.train.trainer import Trainer

    out = tmp_path_factory.mktemp("tiny-model")
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "1"})
    return Trainer(config, out, show_progress=False).train().final_dir


@pytest.fixture(scope="session")
def prior_model(tmp_path_factory):
    """A tiny rule-prior model whose saved rules also know 米家 as a competitor (not in the shipped schema)."""
    from toolkit.train.config import load_train_config
    from toolkit.train.trainer import Trainer

    out = tmp_path_factory.mktemp("prior")
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "1", "rule_prior": "true"})
    folder = Trainer(config, out, show_progress=False).train().final_dir
    schema = folder / "rules" / "schema.yaml"
    schema.write_text(schema.read_text(encoding="utf-8").replace("- 华为\n", "- 华为\n      - 米家\n", 1), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def units() -> Callable[[str, str], tuple[dict[str, Any], list[tuple[str, str]]]]:
    """Ingest one in-memory article of the given markup: its article row and its ``(kind, text)`` units."""

    def ingest_one(content: str, markup: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        ((article, records),) = ingest_articles([RawArticle(content=content, source=f"memory.{markup}", markup=markup)])
        return article, [(rec["kind"], rec["text"]) for rec in records]

    return ingest_one


@contextlib.contextmanager
def served(backend: Any, **app_options: Any) -> Iterator[Any]:
    """The backend's app (``create_app`` with ``app_options``) under uvicorn in a thread on a free port (the
    HTTP round trip Label Studio makes); yields an httpx client on its URL, with ``port`` set."""
    import httpx
    import uvicorn

    from toolkit.serve.app import create_app
    from toolkit.studio import server

    port = server.free_port()
    web = uvicorn.Server(uvicorn.Config(create_app(backend, **app_options), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    client.port = port
    try:
        yield client
    finally:
        client.close()
        web.should_exit = True
        thread.join(timeout=10)

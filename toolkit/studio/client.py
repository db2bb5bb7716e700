"""Connect to Label Studio (through label-studio-sdk) with retries and one clear error when it is down."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from toolkit.errors import StudioError
from toolkit.studio.server import DEFAULT_DATA_DIR, DEFAULT_PORT, read_credentials, server_info

T = TypeVar("T")
TOKEN_ENV = "LABEL_STUDIO_API_KEY"
RETRIES = 4
_TRANSIENT_STATUS = {429, 502, 503, 504}
# For calls that must not be repeated blindly: the SDK's own retries (on by default) are turned off.
NO_SDK_RETRIES = {"max_retries": 0}


def backoff(attempt: int) -> None:
    """Wait before retry ``attempt + 1``: 0.5 s, doubling."""
    time.sleep(0.5 * 2**attempt)


@dataclass(frozen=True)
class Connection:
    url: str
    token: str

    def __repr__(self) -> str:  # never show the token in logs or tracebacks
        return f"Connection(url={self.url!r}, token=***)"


def resolve_connection(
    url: str | None = None, token: str | None = None, data_dir: str | Path = DEFAULT_DATA_DIR
) -> Connection:
    """URL: explicit, else the server started from ``data_dir``, else 127.0.0.1:8080.
    Token: explicit, else $LABEL_STUDIO_API_KEY, else the data dir's credentials file."""
    if url is None:
        info = server_info(data_dir)
        url = info.url if info else f"http://127.0.0.1:{DEFAULT_PORT}"
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        credentials = read_credentials(data_dir)
        token = credentials["token"] if credentials else None
    if not token:
        raise StudioError(
            f"no Label Studio API token: set {TOKEN_ENV}, or start a server with `toolkit studio start` "
            f"(its token is kept in {Path(data_dir) / 'credentials.json'})"
        )
    return Connection(url.rstrip("/"), token)


class Studio:
    """The SDK client plus retry with backoff for transient failures and readable errors."""

    def __init__(self, connection: Connection, *, timeout: float = 120.0) -> None:
        self.connection = connection
        self.sdk = LabelStudio(base_url=connection.url, api_key=connection.token, timeout=timeout)
        self._http = httpx.Client(
            base_url=connection.url, headers={"Authorization": f"Token {connection.token}"}, timeout=timeout
        )

    def call(self, what: str, fn: Callable[..., T], *args: Any, retries: int = RETRIES, **kwargs: Any) -> T:
        """Run one SDK call, retrying connection errors and 429/5xx with exponential backoff (``retries``
        times; 0 for a call that is not safe to repeat blindly, which raises a ``transient`` StudioError)."""
        for attempt in range(retries + 1):
            try:
                return fn(*args, **kwargs)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise StudioError(
                        f"cannot reach Label Studio at {self.connection.url} ({type(exc).__name__}) while "
                        f"trying to {what}; is it running? (`toolkit studio status`)", transient=True
                    ) from None
            except ApiError as exc:
                if exc.status_code == 401:
                    raise StudioError(f"Label Studio at {self.connection.url} rejected the API token") from None
                if exc.status_code not in _TRANSIENT_STATUS or attempt == retries:
                    raise StudioError(f"Label Studio refused to {what}: HTTP {exc.status_code} {exc.body}",
                                      transient=exc.status_code in _TRANSIENT_STATUS) from None
            backoff(attempt)
        raise AssertionError("unreachable")

    def get_json(self, what: str, path: str, **params: Any) -> Any:
        """GET a JSON API path directly, for large listings where parsing into SDK models costs seconds."""

        def fetch() -> Any:
            response = self._http.get(path, params=params)
            if response.status_code >= 400:
                raise ApiError(status_code=response.status_code, body=response.text[:500])
            return response.json()

        return self.call(what, fetch)

    def check(self) -> None:
        """Fail early, with one clear message, when the server is down."""
        try:
            httpx.get(f"{self.connection.url}/health", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise StudioError(
                f"Label Studio is not reachable at {self.connection.url} ({type(exc).__name__}); "
                "start it with `toolkit studio start` or pass --url"
            ) from None

    def project_id(self, title: str, *, create_with: str | None = None) -> int:
        """The id of the project titled ``title``; created with label config ``create_with`` if missing."""
        matches = [p for p in self.call("list projects", self.sdk.projects.list, title=title) if p.title == title]
        if len(matches) > 1:
            raise StudioError(f"{len(matches)} projects are titled {title!r}; rename one or use a unique title")
        if matches:
            return matches[0].id
        if create_with is None:
            raise StudioError(f"no Label Studio project titled {title!r}")
        return self.call("create the project", self.sdk.projects.create, title=title, label_config=create_with).id

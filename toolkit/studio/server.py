"""Run a local Label Studio server for users who have none.

The server is the ``label-studio`` pip package (1.23.x, SQLite) in its own virtualenv (its pins are kept
apart from the ML stack), bound to 127.0.0.1 with sign-up, version checks, telemetry and Sentry off and
HOME inside the data dir. The first start creates the admin account and a legacy API token; both are
stored in ``<data-dir>/credentials.json`` (mode 0600), and the token is never printed afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from toolkit.errors import StudioError

DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path("studio-data")
ADMIN_EMAIL = "admin@toolkit.local"
_REPO_VENV = Path(__file__).resolve().parents[2] / ".venv-studio" / "bin" / "label-studio"
_STATE = "server.json"
_CREDENTIALS = "credentials.json"
_LOG = "label-studio.log"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    port: int
    data_dir: Path


def find_label_studio(explicit: str | Path | None = None) -> Path:
    """The ``label-studio`` executable: explicit path, $TOOLKIT_LABEL_STUDIO, PATH, or the repo's .venv-studio."""
    for candidate in (explicit, os.environ.get("TOOLKIT_LABEL_STUDIO"), shutil.which("label-studio"), _REPO_VENV):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise StudioError(
        "Label Studio is not installed: run `make studio` (creates .venv-studio with label-studio 1.23) "
        "or pass --label-studio PATH / set TOOLKIT_LABEL_STUDIO"
    )


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("status") == "UP"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_private(path: Path, data: dict[str, object]) -> None:
    """Write JSON readable by the owner only (created 0600, never world-readable even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.chmod(path, 0o600)


def read_credentials(data_dir: str | Path) -> dict[str, str] | None:
    path = Path(data_dir) / _CREDENTIALS
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def server_info(data_dir: str | Path) -> ServerInfo | None:
    """The server recorded in ``data_dir`` if its process is still alive."""
    path = Path(data_dir) / _STATE
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if not _pid_alive(state["pid"]):
        return None
    return ServerInfo(state["url"], state["pid"], state["port"], Path(data_dir))


def _environment(data_dir: Path, credentials: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    home = data_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir / "data"),
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        # the toolkit's ML backend runs on 127.0.0.1 too; Label Studio blocks local addresses by default
        LABEL_STUDIO_ML_BLOCK_LOCAL_IP="false",
        LABEL_STUDIO_SSRF_PROTECTION_ENABLED="false",
        LABEL_STUDIO_USERNAME=credentials["username"],
        LABEL_STUDIO_PASSWORD=credentials["password"],
        LABEL_STUDIO_USER_TOKEN=credentials["token"],
    )
    return env


def start(
    data_dir: str | Path = DEFAULT_DATA_DIR,
    port: int = DEFAULT_PORT,
    *,
    label_studio: str | Path | None = None,
    timeout: float = 300.0,
) -> tuple[ServerInfo, dict[str, str] | None]:
    """Start Label Studio on 127.0.0.1:``port`` and wait for ``/health``.

    Returns the server and, on the very first start only, the new credentials (for showing once).
    A server already running from ``data_dir`` is returned as it is.
    """
    data_dir = Path(data_dir).resolve()
    running = server_info(data_dir)
    if running is not None:
        return running, None
    executable = find_label_studio(label_studio)
    if _port_in_use(port):
        raise StudioError(f"port {port} on 127.0.0.1 is already in use; choose another with --port")
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials = read_credentials(data_dir)
    new = credentials is None
    if credentials is None:
        credentials = {
            "username": ADMIN_EMAIL,
            "password": secrets.token_urlsafe(12),
            "token": secrets.token_hex(20),
        }
        _write_private(data_dir / _CREDENTIALS, credentials)
    log = (data_dir / _LOG).open("ab")
    command = [
        str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir / "data"), "--enable-legacy-api-token", "--log-level", "WARNING",
    ]
    process = subprocess.Popen(
        command, env=_environment(data_dir, credentials), stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    _write_private(data_dir / _STATE, {"pid": process.pid, "port": port, "url": url})
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if process.poll() is not None:
            raise StudioError(f"Label Studio exited with code {process.returncode}; see {data_dir / _LOG}")
        if time.monotonic() > deadline:
            stop(data_dir)
            raise StudioError(f"Label Studio did not answer /health within {timeout:.0f} s; see {data_dir / _LOG}")
        time.sleep(1.0)
    return ServerInfo(url, process.pid, port, data_dir), credentials if new else None


def stop(data_dir: str | Path = DEFAULT_DATA_DIR, timeout: float = 30.0) -> bool:
    """Stop the server recorded in ``data_dir`` by its PID (its whole process group); False if none ran."""
    data_dir = Path(data_dir)
    info = server_info(data_dir)
    (data_dir / _STATE).unlink(missing_ok=True)
    if info is None:
        return False
    try:
        os.killpg(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while _pid_alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(0.2)
    if _pid_alive(info.pid):
        os.killpg(info.pid, signal.SIGKILL)
        _reap(info.pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

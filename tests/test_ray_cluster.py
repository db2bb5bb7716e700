"""``toolkit predict --engine ray --address``: joining a running Ray cluster (a head node started with
``ray start``, as on a real cluster). Its own module: no runtime of this process may be up when it runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.predict.distributed import run_predict_ray

ray = pytest.importorskip("ray", reason="the Ray engine is the [ray] extra, which the dev install includes")
RAY_CLI = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_joins_a_running_cluster_by_address_and_leaves_it_running(tiny_model, examples, tmp_path):
    assert not ray.is_initialized()
    address = f"127.0.0.1:{_free_port()}"
    # The head without token authentication, as the client side runs here (a real cluster shares its token
    # through RAY_AUTH_TOKEN; README)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    started = subprocess.run([RAY_CLI, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false",
                              "--node-ip-address", "127.0.0.1", "--port", address.split(":")[1]],
                             capture_output=True, text=True, timeout=180, env=env)
    assert started.returncode == 0, started.stderr
    try:
        result = run_predict_ray(tiny_model, [examples], tmp_path / "ray", address=address, show_progress=False)
        assert result.sentences > 30 and result.failed_inputs == [] and result.shards_written == 4
        assert not ray.is_initialized()  # the run disconnected from the cluster
        status = subprocess.run([RAY_CLI, "status", "--address", address], capture_output=True, text=True, timeout=60,
                                env=env)
        assert status.returncode == 0, status.stderr  # and the cluster is still up
    finally:
        subprocess.run([RAY_CLI, "stop", "--force"], capture_output=True, timeout=180)

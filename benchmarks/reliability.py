"""Reliability drills with real processes (issue 26): kill -9 mid-work, then resume; a failed run; a hostile
request. Each drill prints whether the promise held. Uses a tiny randomly initialised model (no download).

    python benchmarks/reliability.py [--work build/bench/reliability]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = [sys.executable, "-m", "toolkit"]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOOLKIT, *args], cwd=ROOT, capture_output=True, text=True, check=check)


def _kill_when(args: list[str], ready: Callable[[], bool], timeout: float = 300) -> None:
    """Start ``toolkit args`` and SIGKILL it as soon as ``ready()`` holds (polled every 50 ms)."""
    process = subprocess.Popen([*TOOLKIT, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(args)} ended before the kill point")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("kill point not reached")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def drill_ingest(work: Path) -> tuple[bool, str]:
    out = work / "ingest" / "s.jsonl"
    _run("ingest", "examples/articles", "--out", str(out), "-q")
    before = {p.name: _digest(p) for p in out.parent.iterdir()}
    empty = work / "ingest-empty.txt"
    empty.write_bytes(b"")
    failed = _run("ingest", str(empty), "--out", str(out), "-q", check=False)
    after = {p.name: _digest(p) for p in out.parent.iterdir()}
    return failed.returncode == 1 and before == after, f"exit {failed.returncode}; {len(after)} output files unchanged: {before == after}"


def drill_train(work: Path) -> tuple[bool, str]:
    base = ["train", "--config", "configs/tiny.yaml", "--set", "epochs=2", "--set", "checkpoint_every=2", "-q"]
    whole, killed = work / "train-whole", work / "train-killed"
    _run(*base, "--out", str(whole))
    state = killed / "checkpoint" / "trainer_state.json"

    def mid_epoch() -> bool:
        try:
            return json.loads(state.read_text()).get("batch_in_epoch", 0) >= 4
        except (OSError, json.JSONDecodeError):
            return False

    _kill_when([*base, "--out", str(killed)], mid_epoch)
    at = json.loads(state.read_text())
    _run(*base, "--out", str(killed), "--resume")
    same = _digest(whole / "model-final" / "model.safetensors") == _digest(killed / "model-final" / "model.safetensors")
    return same, f"killed at epoch {at['epoch'] + 1}, batch {at['batch_in_epoch']}; resumed weights identical: {same}"


def drill_predict(work: Path) -> tuple[bool, str]:
    sentences = work / "predict-in.jsonl"
    _run("ingest", "examples/articles", "--out", str(work / "predict-sample.jsonl"), "-q")
    rows = [json.loads(line) for line in (work / "predict-sample.jsonl").read_text(encoding="utf-8").splitlines()]
    with sentences.open("w", encoding="utf-8") as fh:  # enough sentences to be stopped half way
        for copy in range(60):
            for row in rows:
                fh.write(json.dumps({**row, "id": f"{row['id']}-{copy}"}, ensure_ascii=False) + "\n")
    model = work / "train-whole" / "model-final"
    out = work / "predict-out.jsonl"
    partial = out.with_name(out.name + ".tmp")
    _kill_when(["predict", str(sentences), "--model", str(model), "--out", str(out), "-q"],
               lambda: partial.is_file() and partial.stat().st_size > 2_000_000)
    had = len(partial.read_bytes().splitlines())
    _run("predict", str(sentences), "--model", str(model), "--out", str(out), "--resume", "-q")
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    want = len(rows) * 60
    ok = len(ids) == len(set(ids)) == want
    return ok, f"killed with {had:,} lines written (the last possibly torn); after --resume {len(ids):,} lines, {len(set(ids)):,} ids, {want:,} expected"


def drill_serve(work: Path) -> tuple[bool, str]:
    port = 9301
    process = subprocess.Popen([*TOOLKIT, "serve", "--model", str(work / "train-whole" / "model-final"), "--port", str(port),
                                "--store", str(work / "store")], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        def body():  # 27 MB, chunked (no Content-Length)
            for _ in range(27):
                yield b"x" * 1_000_000

        try:
            status = httpx.post(f"{url}/predict", content=body(), timeout=60).status_code
        except httpx.TransportError as exc:  # the server may close the connection after answering 413
            status = f"connection closed ({type(exc).__name__})"
    finally:
        process.terminate()
        process.wait()
    return status == 413, f"27 MB chunked body: HTTP {status}"


DRILLS = {"failed ingest keeps earlier outputs": drill_ingest, "train killed mid-epoch, --resume": drill_train,
          "predict killed, --resume": drill_predict, "serve: chunked body over --max-bytes": drill_serve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "reliability")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    os.environ.setdefault("TOOLKIT_CACHE_DIR", str(args.work / "cache"))
    print("| drill | held | what happened | seconds |\n|---|---|---|---|")
    failures = 0
    for name, drill in DRILLS.items():
        started = time.perf_counter()
        held, what = drill(args.work)
        failures += not held
        print(f"| {name} | {'yes' if held else 'NO'} | {what} | {time.perf_counter() - started:.0f} |", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""Retraining from review: the served model learns from what reviewers just labelled.

After every ``every`` changed annotations (each counted once, in its last state; see
:mod:`toolkit.serve.store`), and at most once per ``interval_s``, or when Label Studio's "Start training"
asks, a background thread trains the configured training run on its own data plus the store's reviewed
tasks. The result is a new version folder (``<out>/v001`` …, with the reviewed records it saw); the
backend swaps it in only when training succeeded, so ``/predict`` answers with the current model all along
and a failed retrain keeps it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolkit.io import write_records
from toolkit.labels import LabelSchema, load_schema
from toolkit.serve.store import ReviewStore
from toolkit.studio.export import tasks_to_records
from toolkit.train.config import load_train_config, with_reviewed

log = logging.getLogger("toolkit.serve")
REVIEWED_FILE = "reviewed.jsonl"


class Retrainer:
    """Decides when to retrain, runs one retrain at a time in the background, and reports its state."""

    def __init__(self, config: str | Path, out: str | Path, store: ReviewStore, *, every: int,
                 interval_s: float = 0.0, on_trained: Callable[[Path], None], schema: LabelSchema | None = None) -> None:
        if every < 1:
            raise ValueError("retrain every must be at least 1 annotation")
        self.config = Path(config)
        load_train_config(self.config)  # a broken config fails at start-up, not at the first retrain
        self.out = Path(out)
        self.store = store
        self.every = every
        self.interval_s = interval_s
        self.on_trained = on_trained
        self.schema = schema or load_schema()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.state: dict[str, Any] = {"state": "idle", "last_started": None, "last_finished": None,
                                      "last_error": None, "last_version": None, "retrains": 0}

    def notify(self) -> bool:
        """Called after stored events: start a retrain if enough annotations changed and the interval allows."""
        if len(self.store.pending) < self.every:
            return False
        return self._start(force=False)

    def request(self) -> bool:
        """Retrain now ("Start training"), unless one is running; returns whether one started."""
        return self._start(force=True)

    def _start(self, *, force: bool) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            last = self.state["last_started"]
            wait = 0.0 if force or last is None else last + self.interval_s - time.time()
            if wait > 0:
                if self._timer is None or not self._timer.is_alive():
                    self._timer = threading.Timer(wait, self.notify)
                    self._timer.daemon = True
                    self._timer.start()
                return False
            snapshot = self.store.take_pending()
            self.state.update(state="running", last_started=time.time())
            self._thread = threading.Thread(target=self._run, args=(snapshot,), name="toolkit-retrain", daemon=True)
            self._thread.start()
            return True

    def _run(self, snapshot: set[int]) -> None:
        try:
            model_dir = self.train()
        except Exception as exc:  # any failure keeps the served model; the reason goes to the log and /health
            log.exception("retrain failed; still serving the previous model")
            self.store.restore_pending(snapshot)
            self.state.update(state="failed", last_error=f"{type(exc).__name__}: {exc}", last_finished=time.time())
            return
        self.state.update(state="idle", last_error=None, last_finished=time.time(), last_version=model_dir.parent.name,
                          retrains=self.state["retrains"] + 1)
        self.notify()  # annotations that arrived during training

    def train(self) -> Path:
        """One retrain in the foreground: the config's data plus the reviewed tasks; returns the new model folder
        after the backend has swapped it in."""
        from toolkit.train.trainer import Trainer

        folder = self._next_folder()
        records = tasks_to_records(self.store.tasks(), self.schema, source="the backend's review store")
        reviewed = folder / REVIEWED_FILE
        write_records(reviewed, records)
        config = with_reviewed(load_train_config(self.config), reviewed)
        result = Trainer(config, folder, schema=self.schema, show_progress=False).train()
        model_dir = result.best_dir or result.final_dir
        self.on_trained(model_dir)
        return model_dir

    def _next_folder(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name[1:]) for p in self.out.glob("v[0-9]*") if p.name[1:].isdigit()]
        folder = self.out / f"v{max(taken, default=0) + 1:03d}"
        folder.mkdir()
        return folder

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running retrain (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {**self.state, "every": self.every, "interval_s": self.interval_s, **self.store.counts()}

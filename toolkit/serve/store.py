"""The backend's review store: Label Studio's annotation events, kept on disk and reduced to each
annotation's last state.

Why a reduction and not the raw log: an annotation that is created, updated twice and deleted is one
decision a reviewer changed their mind about, not four labels. The log (``annotations.jsonl``) is
append-only, so nothing a webhook sent is lost, and replaying it on start-up rebuilds the same state.
``pending`` holds the annotations changed since the last retrain took its snapshot: each counts once,
however many events it had. Snapshots (and a failed retrain's snapshot put back) are logged too, so
``pending`` also survives a restart.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from toolkit.errors import InputError

CREATED, UPDATED, DELETED = "ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"
START_TRAINING = "START_TRAINING"
_SNAPSHOT, _RESTORED = "SNAPSHOT", "RESTORED"  # the store's own entries: a retrain took / gave back ``pending``
# Label Studio sends ANNOTATIONS_DELETED; the singular form is accepted for clients that follow the docs' prose.
ANNOTATION_EVENTS = {CREATED, UPDATED, DELETED, "ANNOTATION_DELETED"}
LOG_FILE = "annotations.jsonl"


class ReviewStore:
    """Tasks and their current annotations, built from webhook payloads (thread-safe)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        self._tasks: dict[int, dict[str, Any]] = {}        # task id -> task (id, data)
        self._annotations: dict[int, dict[str, Any]] = {}  # annotation id -> its last state
        self.pending: set[int] = set()
        self._lock = threading.Lock()
        if self.folder and (self.folder / LOG_FILE).is_file():
            self._replay(self.folder / LOG_FILE)

    def _replay(self, path: Path) -> None:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                self._apply(item["event"], item["data"])
            except (json.JSONDecodeError, KeyError, TypeError, InputError) as exc:
                raise InputError(f"{path}:{n}: not a stored annotation event ({exc}); move the file aside to "
                                 "start an empty store") from None

    def add(self, event: str, payload: dict[str, Any], received_at: float) -> int:
        """Log one event and apply it; returns how many annotations it changed."""
        with self._lock:
            changed = self._apply(event, payload)
            self._log(event, payload, received_at)
            return changed

    def _log(self, event: str, payload: dict[str, Any], received_at: float | None = None) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / LOG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "received_at": received_at, "data": payload}, ensure_ascii=False) + "\n")

    def _apply(self, event: str, payload: dict[str, Any]) -> int:
        if event in (CREATED, UPDATED):
            annotation, task = payload.get("annotation"), payload.get("task")
            if not isinstance(annotation, dict) or "id" not in annotation:
                raise InputError(f"{event} without an annotation id")
            task_id = task.get("id") if isinstance(task, dict) else annotation.get("task")
            if task_id is None:
                raise InputError(f"{event} for annotation {annotation['id']} names no task")
            if isinstance(task, dict) and isinstance(task.get("data"), dict):
                self._tasks[int(task_id)] = {"id": int(task_id), "data": task["data"]}
            self._annotations[int(annotation["id"])] = {**annotation, "task": int(task_id)}
            self.pending.add(int(annotation["id"]))
            return 1
        if event in ANNOTATION_EVENTS:  # deleted: a list of annotations, or one
            gone = payload.get("annotations") or [payload.get("annotation") or {}]
            ids = [int(a["id"]) for a in gone if isinstance(a, dict) and "id" in a]
            for annotation_id in ids:
                self._annotations.pop(annotation_id, None)
                self.pending.add(annotation_id)
            return len(ids)
        if event in (_SNAPSHOT, _RESTORED):
            ids = set(payload["ids"])
            self.pending = self.pending - ids if event == _SNAPSHOT else self.pending | ids
            return 0
        if event == START_TRAINING:
            return 0
        raise InputError(f"{event} is not an annotation event")

    def take_pending(self) -> set[int]:
        """The annotations changed since the last call (a retrain's snapshot); ``pending`` starts empty again."""
        with self._lock:
            taken, self.pending = self.pending, set()
            self._log(_SNAPSHOT, {"ids": sorted(taken)})
            return taken

    def restore_pending(self, ids: set[int]) -> None:
        """Put a failed retrain's snapshot back, so the next retrain still counts those annotations."""
        with self._lock:
            self.pending |= ids
            self._log(_RESTORED, {"ids": sorted(ids)})

    def tasks(self) -> list[dict[str, Any]]:
        """Label Studio export-format tasks (``id``, ``data``, ``annotations``) for every task that has at least
        one live annotation and whose data a webhook carried."""
        with self._lock:
            by_task: dict[int, list[dict[str, Any]]] = {}
            for annotation in self._annotations.values():
                by_task.setdefault(annotation["task"], []).append(annotation)
            return [{**self._tasks[t], "annotations": sorted(a, key=lambda x: x["id"])}
                    for t, a in sorted(by_task.items()) if t in self._tasks]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"annotations": len(self._annotations), "tasks": len({a["task"] for a in self._annotations.values()}),
                    "pending": len(self.pending)}

"""A local index of what a project holds, so a re-push need not list every task and prediction.

Listing 10,000 tasks costs Label Studio several seconds; the project's counters cost milliseconds. The
index maps sentence id → task id and (task, model_version) → result digest, and is trusted only while the
project's task count, prediction count and highest task id are exactly what the index recorded. Any other
change (a task deleted or added in the UI, an interrupted push) fails that check, and the push lists the
project from the server again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.resources import cache_root


def cache_dir() -> Path:
    return cache_root() / "push-index"


def result_digest(result: list[dict[str, Any]]) -> str:
    return hashlib.sha1(json.dumps(result, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class ProjectState:
    """The counters that must match for an index to be trusted."""

    task_count: int
    prediction_count: int
    max_task_id: int | None


@dataclass
class PushIndex:
    key: str
    state: ProjectState
    tasks: dict[str, int] = field(default_factory=dict)  # sentence id -> task id
    predictions: dict[str, list[Any]] = field(default_factory=dict)  # "task|version" -> [prediction id, digest]

    @staticmethod
    def path_for(key: str) -> Path:
        return cache_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"

    @classmethod
    def load(cls, key: str) -> PushIndex | None:
        path = cls.path_for(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("key") != key:
            return None
        return cls(key, ProjectState(**data["state"]), data["tasks"], data["predictions"])

    def save(self) -> None:
        path = self.path_for(self.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"key": self.key, "state": self.state.__dict__, "tasks": self.tasks,
                        "predictions": self.predictions}),
            encoding="utf-8",
        )
        tmp.replace(path)

    def prediction(self, task_id: int, version: str) -> list[Any] | None:
        return self.predictions.get(f"{task_id}|{version}")

    def set_prediction(self, task_id: int, version: str, prediction_id: int | None, digest: str) -> None:
        self.predictions[f"{task_id}|{version}"] = [prediction_id, digest]

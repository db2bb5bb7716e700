"""Resolve several annotators' labels into one label per task field.

Policies (``policy=``):

- ``majority``: the value more than half of the annotators chose; a multi-choice field is voted per label.
  No majority (a 1-1 tie) leaves the field for adjudication.
- ``priority``: where annotators disagree, the value of the first annotator in ``priority`` who labelled
  the unit; if none of them did, majority.
- ``drop``: only unanimous fields are resolved; disagreements are left out.

Every resolved block records how each field was decided (``resolution``) and lists unresolved fields in
``needs_adjudication``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from toolkit.labels import LabelSchema

Policy = Literal["majority", "priority", "drop"]
POLICIES: tuple[Policy, ...] = ("majority", "priority", "drop")


def _majority_single(values: list[Any]) -> Any | None:
    value, count = Counter(values).most_common(1)[0]
    return value if count * 2 > len(values) else None


def _majority_multi(values: list[list[str]]) -> list[str] | None:
    votes = Counter(label for value in values for label in set(value))
    if any(count * 2 == len(values) for count in votes.values()):
        return None  # a tie on some label
    return sorted(label for label, count in votes.items() if count * 2 > len(values))


def resolve(
    annotations: Sequence[dict[str, Any]],
    schema: LabelSchema,
    *,
    policy: Policy = "majority",
    priority: Sequence[Any] = (),
) -> dict[str, Any] | None:
    """Resolved labels for one unit from its annotators' labels (each a dict with ``annotator`` and fields)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown adjudication policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if not annotations:
        return None
    resolved: dict[str, Any] = {"resolution": {}}
    unresolved = []
    for task in schema.tasks:
        given = [a for a in annotations if a.get(task.name) is not None]
        if not given:
            continue
        values = [a[task.name] for a in given]
        if len({json.dumps(v, sort_keys=True) for v in values}) == 1:
            resolved[task.name], how = values[0], "unanimous"
        elif policy == "priority" and (first := next((a for p in priority for a in given if a["annotator"] == p), None)):
            resolved[task.name], how = first[task.name], "priority"
        elif policy in ("majority", "priority") and (
            value := (_majority_multi(values) if task.kind == "multi" else _majority_single(values))
        ) is not None:
            resolved[task.name], how = value, "majority"
        else:
            unresolved.append(task.name)
            how = "needs_adjudication"
        resolved["resolution"][task.name] = how
    if unresolved:
        resolved["needs_adjudication"] = unresolved
    return resolved

"""Resolve several annotators' labels into one label per task field.

Policies (``policy=``):

- ``majority``: the value more than half of the annotators chose; a multi-choice field is voted per label.
  No majority (a 1-1 tie) leaves the field for adjudication.
- ``priority``: where annotators disagree, the value of the first annotator in ``priority`` who labelled
  the unit; if none of them did, majority.
- ``drop``: only unanimous fields are resolved; disagreements are left out.

Competitor spans (``mentions``) are voted per span, as a multi-choice field is per label: a span more than
half of the annotators marked (same offsets) is kept.

Every resolved block records how each field was decided (``resolution``) and lists unresolved fields in
``needs_adjudication``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from toolkit.labels import LabelSchema

MENTIONS = "mentions"
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


def _majority(kind: str, values: list[Any]) -> Any | None:
    if kind == "single":
        return _majority_single(values)
    if kind == "multi":
        return _majority_multi(values)
    keyed = {json.dumps(span, sort_keys=True): span for spans in values for span in spans}
    kept = _majority_multi([[json.dumps(span, sort_keys=True) for span in spans] for spans in values])
    return None if kept is None else sorted((keyed[k] for k in kept), key=lambda m: (m["start"], m["end"]))


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
    fields = [(task.name, task.kind) for task in schema.tasks] + [(MENTIONS, "spans")]
    for name, kind in fields:
        given = [a for a in annotations if a.get(name) is not None]
        if not given:
            continue
        values = [a[name] for a in given]
        if len({json.dumps(v, sort_keys=True) for v in values}) == 1:
            resolved[name], how = values[0], "unanimous"
        elif policy == "priority" and (first := next((a for p in priority for a in given if a["annotator"] == p), None)):
            resolved[name], how = first[name], "priority"
        elif policy in ("majority", "priority") and (value := _majority(kind, values)) is not None:
            resolved[name], how = value, "majority"
        else:
            unresolved.append(name)
            how = "needs_adjudication"
        resolved["resolution"][name] = how
    if unresolved:
        resolved["needs_adjudication"] = unresolved
    return resolved

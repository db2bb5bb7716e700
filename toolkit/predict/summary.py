"""Per-article summaries of sentence predictions: label shares per task, net stance, competitors, top risks.

The tasks are read from the prediction blocks themselves (a block with ``label`` is single-choice, one with
``labels`` multi-choice), so a model trained on a subset of the schema (sentiment only, say) summarises
what it predicts. Net stance and the top risk sentences need a stance block with a ``risk`` score.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

TOP_RISKS = 5
RISK_TASK, RISK_LABEL, BULLISH_LABEL = "stance", "risk", "bullish"


@dataclass
class _Article:
    units: int = 0
    labels: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    competitors: Counter[str] = field(default_factory=Counter)
    risks: list[tuple[float, str, str]] = field(default_factory=list)  # min-heap of (risk score, id, text)


def task_blocks(prediction: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: b for name, b in prediction.items() if isinstance(b, dict) and ("label" in b or "labels" in b)}


class ArticleSummary:
    """Accumulates sentence predictions per article in one pass; memory grows with articles, not sentences."""

    def __init__(self) -> None:
        self._articles: dict[str, _Article] = defaultdict(_Article)

    def add(self, record: dict[str, Any]) -> None:
        article = self._articles[str(record.get("article_id", ""))]
        prediction = record["predictions"]
        article.units += 1
        for name, block in task_blocks(prediction).items():
            article.labels[name].update([block["label"]] if "label" in block else block["labels"])
        article.competitors.update(m["entity"] for m in prediction.get("competitors", []))
        risk = prediction.get(RISK_TASK, {}).get("scores", {}).get(RISK_LABEL)
        if risk is None:
            return
        item = (risk, str(record.get("id")), record["text"])
        if len(article.risks) < TOP_RISKS:
            heapq.heappush(article.risks, item)
        else:
            heapq.heappushpop(article.risks, item)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for article_id, a in self._articles.items():
            shares = {name: {k: round(v / a.units, 4) for k, v in sorted(c.items())} for name, c in a.labels.items()}
            row: dict[str, Any] = {"article_id": article_id, "units": a.units, **shares}
            if RISK_TASK in shares:
                stance = shares[RISK_TASK]
                row["net_stance"] = round(stance.get(BULLISH_LABEL, 0.0) - stance.get(RISK_LABEL, 0.0), 4)
            row["competitors"] = dict(a.competitors.most_common())
            if a.risks:
                row["top_risks"] = [{"id": i, "text": t, "risk": round(s, 4)} for s, i, t in sorted(a.risks, reverse=True)]
            out.append(row)
        return out

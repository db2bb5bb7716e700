"""Per-article summaries of sentence predictions: distributions, net stance, topics, competitors, top risks."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

TOP_RISKS = 5


@dataclass
class _Article:
    units: int = 0
    sentiment: Counter[str] = field(default_factory=Counter)
    stance: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)
    competitors: Counter[str] = field(default_factory=Counter)
    risks: list[tuple[float, str, str]] = field(default_factory=list)  # min-heap of (risk score, id, text)


class ArticleSummary:
    """Accumulates sentence predictions per article in one pass; memory grows with articles, not sentences."""

    def __init__(self) -> None:
        self._articles: dict[str, _Article] = defaultdict(_Article)

    def add(self, record: dict[str, Any]) -> None:
        article = self._articles[str(record.get("article_id", ""))]
        prediction = record["predictions"]
        article.units += 1
        article.sentiment[prediction["sentiment"]["label"]] += 1
        article.stance[prediction["stance"]["label"]] += 1
        article.topics.update(prediction["topics"]["labels"])
        article.competitors.update(m["entity"] for m in prediction.get("competitors", []))
        risk = prediction["stance"]["scores"].get("risk", 0.0)
        item = (risk, str(record.get("id")), record["text"])
        if len(article.risks) < TOP_RISKS:
            heapq.heappush(article.risks, item)
        else:
            heapq.heappushpop(article.risks, item)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for article_id, a in self._articles.items():
            share = lambda c: {k: round(v / a.units, 4) for k, v in sorted(c.items())}  # noqa: E731
            stance = share(a.stance)
            out.append({
                "article_id": article_id,
                "units": a.units,
                "sentiment": share(a.sentiment),
                "stance": stance,
                "net_stance": round(stance.get("bullish", 0.0) - stance.get("risk", 0.0), 4),
                "topics": share(a.topics),
                "competitors": dict(a.competitors.most_common()),
                "top_risks": [{"id": i, "text": t, "risk": round(s, 4)} for s, i, t in sorted(a.risks, reverse=True)],
            })
        return out

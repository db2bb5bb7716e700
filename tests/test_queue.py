"""Query strategies of the review queue: certainty over every task, and the diverse order."""

import pytest

from toolkit.studio.queue import QUEUE_SCORE, certainty, order_records, with_queue_scores
from toolkit.studio.tasks import ls_prediction


def _prediction(sentiment, topic_score, threshold=0.5):
    return {"sentiment": {"label": "positive", "scores": dict(zip(("positive", "neutral", "negative"), sentiment))},
            "topics": {"labels": [], "scores": {"ev": topic_score, "phone": 0.0}, "thresholds": {"ev": threshold, "phone": threshold}},
            "model_version": "m"}


def test_certainty_uses_margins_and_topic_distance_to_the_threshold():
    # sentiment margin 0.6 - 0.3 = 0.3; topics: ev 0.45 is 0.05 below a 0.5 threshold on a side of width 0.5 -> 0.1
    assert certainty(_prediction((0.6, 0.3, 0.1), 0.45)) == pytest.approx((0.3 + 0.1) / 2)
    # a tuned threshold of 0.2: a score of 0.6 is 0.4 above it on a side of width 0.8 -> 0.5; 0.0 is 1.0 below
    assert certainty(_prediction((1.0, 0.0, 0.0), 0.6, threshold=0.2)) == pytest.approx((1.0 + 0.5) / 2)
    assert certainty({"model_version": "m"}) is None


def test_a_topic_near_its_threshold_puts_a_sure_sentiment_early_in_the_queue():
    sure = {"id": "a", "text": "甲", "predictions": _prediction((0.9, 0.05, 0.05), 0.0)}
    topic_doubt = {"id": "b", "text": "乙", "predictions": _prediction((0.9, 0.05, 0.05), 0.5)}
    assert [r["id"] for r in order_records([sure, topic_doubt])] == ["b", "a"]


def test_the_diverse_order_spreads_articles_and_separates_near_copies():
    records = []
    for i in range(8):  # article A holds the eight least certain sentences, two of them near copies
        text = "小米汽车交付量再创新高,订单持续增长。" if i < 2 else f"小米第{i}季度手机出货量变化{i}。"
        records.append({"id": f"a{i}", "article_id": "A", "text": text,
                        "predictions": _prediction((0.34 + i * 0.001, 0.33, 0.33 - i * 0.001), 0.5)})
    for i in range(4):
        records.append({"id": f"b{i}", "article_id": "B", "text": f"华为问界销量第{i}次下滑,压力{i}。",
                        "predictions": _prediction((0.8, 0.1, 0.1), 0.9)})
    plain = [r["id"] for r in order_records(records)]
    assert plain[:8] == [f"a{i}" for i in range(8)]
    diverse = order_records(records, diversity=6, per_article=3)
    ids = [r["id"] for r in diverse]
    assert ids[0] == "a0" and sorted(ids) == sorted(plain)
    first_block = diverse[:6]
    assert sum(r["article_id"] == "A" for r in first_block) == 3
    assert "a1" not in ids[:6]  # a near copy of a0
    scored = with_queue_scores(diverse)
    scores = [ls_prediction(r, schema=_schema())["score"] for r in scored]
    assert scores == sorted(scores) and scored[0]["predictions"][QUEUE_SCORE] == 0.0


def _schema():
    from toolkit.labels import load_schema

    return load_schema()

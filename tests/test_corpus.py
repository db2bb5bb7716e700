"""Golden tests on the real articles in ../shared/corpus (skipped where ../shared is absent)."""

import json

import pytest

from toolkit.ingest import ingest
from toolkit.io import read_records, sidecar_path


@pytest.fixture(scope="module")
def corpus_records(shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "sentences.jsonl"
    summary = ingest([shared / "corpus"], out, show_progress=False)
    assert summary.articles == 3 and not summary.skipped
    articles = {a["id"]: a for a in read_records(sidecar_path(out, "articles"))}
    return list(read_records(out)), articles


def test_boilerplate_is_gone_and_the_body_remains(corpus_records):
    records, articles = corpus_records
    web = articles["000_4e628c109b272c46"]["text"]
    for noise in ("网易首页", "分享至", "特别声明", "Notice:", "相关推荐", "热点推荐", "灯芯财经", "无障碍浏览", "声明:"):
        assert noise not in web
    assert web.startswith("雷军:手机业务稳扎稳打")
    assert web.rstrip().endswith("提供了可借鉴的范本。")


def test_units_match_the_reviewed_export(corpus_records, shared):
    """The annotators reviewed exactly the units our segmenter produces."""
    records, _ = corpus_records
    export = json.loads((shared / "annotations" / "round1-export.json").read_text(encoding="utf-8"))
    gold = sorted((t["data"]["article_id"], t["data"]["text"]) for t in export)
    ours = sorted((r["article_id"], r["text"]) for r in records)
    assert ours == gold


def test_traditional_article_is_normalised(corpus_records):
    records, articles = corpus_records
    assert articles["001_b5ca07bb5c9703a0"]["script"] == "hant"
    trad = [r for r in records if r["article_id"] == "001_b5ca07bb5c9703a0"]
    scripts = [r["script"] for r in trad]
    assert set(scripts) <= {"hant", "mixed"}
    assert scripts.count("hant") >= 0.95 * len(scripts)
    sample = next(r for r in trad if "小米集團" in r["text"])
    assert "小米集团" in sample["text_norm"] and len(sample["text_norm"]) == len(sample["text"])


def test_headings_and_bullets_are_units(corpus_records):
    records, _ = corpus_records
    by_text = {r["text"]: r["kind"] for r in records}
    assert by_text["三大戰役之一:蓄力已久的高端化之戰"] == "heading"
    assert by_text["01·小米要的不是“卖出车”,而是“跑通体系”"] == "heading"
    assert by_text["• 不是一次造车突袭,而是一场全栈技术调度;"] == "bullet"

"""Markdown files: units carry the article's text, not its markup; front matter gives title and date."""

from toolkit.ingest import ingest
from toolkit.ingest.markdown import extract_markdown
from toolkit.io import read_records


def test_front_matter_links_images_emphasis_and_rules_leave_only_text(units):
    markdown = """---
title: 小米三季度财报点评
date: 2025-11-18
tags: [小米, 财报]
---

# 小米三季度业绩超预期

小米集团**第三季度**收入同比增长22%，[汽车业务](https://example.com/ev "EV")首次实现单季盈利。

![小米SU7](https://example.com/su7.jpg)

***

> 分析师认为，高端化战略正在见效。
> 海外市场仍有压力。

价格区间为 30\\~35 港元 &amp; 目标价 <span>上调</span>。
"""
    article, found = units(markdown, "markdown")
    assert found == [
        ("heading", "小米三季度业绩超预期"),
        ("sentence", "小米集团第三季度收入同比增长22%，汽车业务首次实现单季盈利。"),
        ("sentence", "分析师认为，高端化战略正在见效。"),
        ("sentence", "海外市场仍有压力。"),
        ("sentence", "价格区间为 30~35 港元 & 目标价 上调。"),
    ]
    assert article["title"] == "小米三季度财报点评" and article["published_at"] == "2025-11-18"


def test_lists_tables_code_and_html_blocks_become_units_of_their_kind(units):
    markdown = """## 业务概览

| 业务 | 收入 |
|---|---:|
| 手机 | 460 |
|  |  |

1. 手机出货量排名全球第三，高端机型占比继续提升
2. 汽车
   - 交付量创新高

<div align="center">小米汽车工厂二期投产</div>

<!-- 广告位 -->

    缩进四格的一行，当作代码块保留。
"""
    _, found = units(markdown, "markdown")
    assert found == [
        ("heading", "业务概览"),
        ("table_row", "| 业务 | 收入 |"),
        ("table_row", "| 手机 | 460 |"),
        ("bullet", "- 手机出货量排名全球第三，高端机型占比继续提升"),
        ("bullet", "- 汽车"),  # numbered or not, a list item is a bullet, as in HTML
        ("bullet", "- 交付量创新高"),
        ("heading", "小米汽车工厂二期投产"),
        ("sentence", "缩进四格的一行，当作代码块保留。"),
    ]


def test_plain_text_saved_as_markdown_gives_the_units_of_the_same_text_file(tmp_path):
    text = "小米汽车本月交付超过4万辆。\n毛利率继续提升，\n海外市场贡献增加！\n\n华为问界销量同比增长。"
    (tmp_path / "plain.txt").write_text(text, encoding="utf-8")
    (tmp_path / "note.md").write_text(text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    ingest([tmp_path], out, show_progress=False)
    by_article: dict[str, list[tuple[str, str, int]]] = {}
    for rec in read_records(out):
        by_article.setdefault(rec["article_id"], []).append((rec["kind"], rec["text"], rec["start"]))
    assert by_article["note"] == by_article["plain"]
    assert [text for _, text, _ in by_article["note"]][-1] == "华为问界销量同比增长。"
    assert len(by_article["note"]) == 4


def test_front_matter_gives_the_web_address_a_clipper_wrote_but_not_a_publication_name():
    clipped = "---\nsource: https://finance.example.com/a/123.html\n---\n小米发布新机。"
    assert extract_markdown(clipped).url == "https://finance.example.com/a/123.html"
    assert extract_markdown("---\nsource: 证券时报\nurl: ' https://b.example/x '\n---\n小米。").url == "https://b.example/x"
    assert extract_markdown("---\nsource: 证券时报\n---\n小米发布新机。").url is None


def test_front_matter_that_is_not_a_mapping_is_dropped_without_metadata():
    page = extract_markdown("---\n- 不是映射\n---\n小米发布新机。")
    assert (page.text, page.title, page.published_at) == ("小米发布新机。", None, None)
    page = extract_markdown("---\ntitle: [未闭合\n---\n小米发布新机。")
    assert (page.text, page.title) == ("小米发布新机。", None)


def test_lines_of_nothing_but_links_are_navigation_and_go(units):
    markdown = """[首页](/) | [新闻](/news) | [财经](/finance)

- [手机](/phone)
- [汽车](/ev)

## [小米汽车交付创新高](https://example.com/1)

小米汽车本月交付超过四万辆，[详见公告](https://example.com/2)。

[阅读原文](https://example.com/3)

| 公司 | 销量 |
|---|---|
| [小米](/mi) | 4万 |
"""
    _, found = units(markdown, "markdown")
    assert found == [
        ("heading", "小米汽车交付创新高"),  # a heading or a table cell that is a link keeps its text
        ("sentence", "小米汽车本月交付超过四万辆，详见公告。"),
        ("table_row", "| 公司 | 销量 |"),
        ("table_row", "| 小米 | 4万 |"),
    ]

import gzip
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

import toolkit.io
from toolkit.config import IngestConfig
from toolkit.errors import InputError
from toolkit.ingest import RawArticle, ingest, ingest_articles
from toolkit.io import read_records, sidecar_path
from toolkit.records import Article, SentenceRecord


def load(path):
    return list(read_records(path))


def check_offsets(out):
    articles = {a["id"]: Article.model_validate(a).text for a in load(sidecar_path(out, "articles"))}
    records = load(out)
    for rec in records:
        SentenceRecord.model_validate(rec)
        assert articles[rec["article_id"]][rec["start"] : rec["end"]] == rec["text"]
    return records


def test_examples_end_to_end(tmp_path, examples):
    out = tmp_path / "sentences.jsonl"
    summary = ingest([examples], out, show_progress=False)
    assert summary.articles == 5
    assert not summary.skipped
    records = check_offsets(out)
    assert summary.sentences == len(records)
    kinds = {r["kind"] for r in records}
    assert kinds == {"sentence", "heading", "bullet", "table_row"}
    texts = " ".join(r["text"] for r in records)
    for boilerplate in ("相关推荐", "责任编辑", "未經允許不得轉載", "分享至", "首页", "不代表本站立场"):
        assert boilerplate not in texts
    hant = [r for r in records if r["article_id"] == "xiaomi-ev-overseas-hant"]
    assert hant and all(r["script"] == "hant" for r in hant)
    assert any("小米集团" in r["text_norm"] and "小米集團" in r["text"] for r in hant)
    html = [r for r in records if r["article_id"] == "phone-market-page"]
    assert html[0]["kind"] == "heading" and "小米出货稳居前三" in html[0]["text"]
    removed = Counter()
    for article in read_records(sidecar_path(out, "articles")):
        removed.update(article["boilerplate_removed"])
    assert summary.boilerplate == removed and "reprint_notice" in removed and "related_links" in removed


def test_rerun_gives_identical_output(tmp_path, examples):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ingest([examples], first, show_progress=False)
    ingest([examples], second, show_progress=False)
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")


def test_parquet_output_round_trips(tmp_path, examples):
    jsonl, parquet = tmp_path / "s.jsonl", tmp_path / "s.parquet"
    ingest([examples], jsonl, show_progress=False)
    ingest([examples], parquet, show_progress=False)
    assert [r["id"] for r in load(parquet)] == [r["id"] for r in load(jsonl)]
    assert sidecar_path(parquet, "articles").exists()


def test_bad_inputs_are_skipped_with_reasons_and_nothing_else_is_lost(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = "小米汽车本月交付超过4万辆。毛利率继续提升。"
    (src / "good.txt").write_text(good, encoding="utf-8")
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 50)
    (src / "gbk.txt").write_bytes("小米手机出货量同比增长,高端化战略初见成效。".encode("gbk"))
    (src / "big5.txt").write_bytes("小米汽車交付目標提前完成,產能利用率接近兩倍。".encode("big5"))
    (src / "cut.txt").write_bytes("小米IoT收入增长。智能家居表现亮眼。".encode()[:-2])
    (src / "bad.jsonl").write_bytes(
        "\ufeff".encode()  # a BOM is fine
        + '{"id": "j1", "text": "第一篇文章的正文。"}\n{not json\n{"id": "j3"}\n'.encode()
        + '{"id": "j4", "text": "第四行正文。"}\n'.encode()
        + '{"id": "j5", "text": "大五碼的一行。"}\n'.encode("big5")
        + '{"id": "j6", "text": "第六行正文。"}\n'.encode()
    )
    out = tmp_path / "out.jsonl"
    summary = ingest([src], out, show_progress=False)

    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in summary.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "invalid JSON" in reasons["bad.jsonl:2"]
    assert reasons["bad.jsonl:3"] == "article has no 'text' or 'html' field (its fields: id)"
    assert "not valid UTF-8" in reasons["bad.jsonl:5"]
    assert any("truncated UTF-8" in w for _, w in summary.warnings)

    by_article = {}
    for rec in check_offsets(out):
        by_article.setdefault(rec["article_id"], []).append(rec["text"])
    assert by_article["gbk"] == ["小米手机出货量同比增长,高端化战略初见成效。"]
    assert by_article["big5"] == ["小米汽車交付目標提前完成,產能利用率接近兩倍。"]
    assert by_article["cut"] == ["小米IoT收入增长。", "智能家居表现亮眼"]
    assert by_article["j1"] == ["第一篇文章的正文。"] and by_article["j4"] == ["第四行正文。"]
    assert by_article["j6"] == ["第六行正文。"]
    assert by_article["good"] == ["小米汽车本月交付超过4万辆。", "毛利率继续提升。"]


def test_jsonl_in_gbk_or_big5_is_decoded_not_skipped_line_by_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "gbk.jsonl").write_bytes(
        b'{"id": "ascii", "text": "Xiaomi Q3 revenue rose."}\n'  # ASCII: the same bytes in GBK and UTF-8
        + '{"id": "g2", "text": "小米手机出货量同比增长。"}\n{坏行\n\n'.encode("gbk")
        + '{"id": "g5", "title": "汽车", "text": "小米汽车交付提速。"}\n'.encode("gbk")
    )
    (src / "big5.jsonl").write_bytes('{"id": "b1", "text": "小米汽車交付目標提前完成，產能利用率接近兩倍。"}\n'.encode("big5"))
    out = tmp_path / "out.jsonl"
    summary = ingest([src], out, show_progress=False)

    assert [(s.source.rsplit("/", 1)[-1], s.reason[:12]) for s in summary.skipped] == [("gbk.jsonl:3", "invalid JSON")]
    articles = {a["id"]: a for a in load(sidecar_path(out, "articles"))}
    assert {i: (a["encoding"], a["source"].rsplit("/", 1)[-1]) for i, a in articles.items()} == {
        "ascii": ("utf_8", "gbk.jsonl:1"),
        "g2": ("gb18030", "gbk.jsonl:2"),
        "g5": ("gb18030", "gbk.jsonl:5"),
        "b1": ("big5hkscs", "big5.jsonl:1"),
    }
    assert articles["g5"]["title"] == "汽车"
    texts = {rec["article_id"]: rec["text"] for rec in check_offsets(out)}
    assert texts["g2"] == "小米手机出货量同比增长。"
    assert texts["b1"] == "小米汽車交付目標提前完成，產能利用率接近兩倍。"


def test_jsonl_fields_of_the_wrong_type_are_reported_not_stringified(tmp_path):
    lines = [
        {"id": 7, "text": "数字编号的文章。", "published_at": 20251112},
        {"id": "t", "text": "标题是对象的文章。", "title": {"zh": "标题"}, "url": ["https://a.example"]},
        {"id": {"x": 1}, "text": "编号是对象的文章。"},
        {"id": "n", "text": 42},
        {"id": "h", "html": ["<p>不是字符串</p>"]},
        {"id": "s", "text": "秒级时间戳的文章。", "published_at": 1763020800},
        {"id": "ms", "text": "毫秒级时间戳的文章。", "published_at": 1763020800123.0},
    ]
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = ingest([src], out, show_progress=False)

    assert {s.source.rsplit(":", 1)[-1]: s.reason for s in summary.skipped} == {
        "4": "'text' must be a string, got a number",
        "5": "'html' must be a string, got an array",
    }
    warnings = {source.rsplit(":", 1)[-1]: warning for source, warning in summary.warnings}
    assert warnings == {
        "2": "ignored 'title' is an object; 'url' is an array (expected a string)",
        "3": "ignored 'id' is an object (expected a string)",
    }
    articles = {a["source"].rsplit(":", 1)[-1]: a for a in load(sidecar_path(out, "articles"))}
    assert articles["1"]["id"] == "7" and articles["1"]["published_at"] == "20251112"
    assert "url" not in articles["2"] and articles["2"]["title"] == "标题是对象的文章。"  # the body's first line
    assert articles["3"]["id"].startswith("a")  # a content hash, as for an article without an id
    # a Unix time, in seconds or milliseconds, is a date
    assert articles["6"]["published_at"] == articles["7"]["published_at"] == "2025-11-13T08:00:00+00:00"


def test_missing_input_is_an_error_before_any_work(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest([tmp_path / "nope"], tmp_path / "out.jsonl", show_progress=False)
    assert not (tmp_path / "out.jsonl").exists()


def test_an_output_that_is_also_an_input_is_refused_and_the_input_kept(tmp_path, examples):
    articles = tmp_path / "articles.jsonl"
    shutil.copy(examples / "briefs.jsonl", articles)
    before = articles.read_bytes()
    with pytest.raises(InputError, match="would overwrite this input"):
        ingest([articles], articles, show_progress=False)
    # An earlier run's output inside an input folder would be read back as articles, then replaced.
    folder = tmp_path / "folder"
    shutil.copytree(examples, folder)
    ingest([folder], folder / "sentences.jsonl", show_progress=False)
    with pytest.raises(InputError, match=r"folder/sentences\.(articles\.)?jsonl: output would overwrite"):
        ingest([folder], folder / "sentences.jsonl", show_progress=False)
    assert articles.read_bytes() == before


def test_duplicates_across_articles_are_flagged(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("小米发布新品。两篇都有的句子。", encoding="utf-8")
    (src / "b.txt").write_text("两篇都有的句子。华为也发布新品。", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = ingest([src], out, show_progress=False)
    records = load(out)
    first = next(r for r in records if r["article_id"] == "a" and r["text"] == "两篇都有的句子。")
    dupe = next(r for r in records if r["article_id"] == "b" and r["text"] == "两篇都有的句子。")
    assert dupe["duplicate_of"] == first["id"] and "duplicate_of" not in first
    assert summary.duplicates == 1


def test_same_file_name_in_two_folders_gets_distinct_article_ids(tmp_path, examples):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        shutil.copy(examples / "xiaomi-q3-results.txt", tmp_path / sub / "same.txt")
    (tmp_path / "y" / "same.txt").write_text("另一篇文章。", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    ingest([tmp_path / "x", tmp_path / "y"], out, show_progress=False)
    articles = [a["id"] for a in load(sidecar_path(out, "articles"))]
    assert len(set(articles)) == 2 and articles[0] == "same"


def test_hidden_folders_and_files_are_not_searched_but_a_named_one_is_read(tmp_path, examples):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(examples / "xiaomi-q3-results.txt", src / "q3.txt")
    for hidden in (".ipynb_checkpoints", ".git"):
        (src / hidden).mkdir()
        shutil.copy(examples / "xiaomi-q3-results.txt", src / hidden / "q3-checkpoint.txt")
    (src / "._q3.txt").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 60)  # a macOS resource fork
    out = tmp_path / "o.jsonl"
    summary = ingest([src], out, show_progress=False)
    assert [a["id"] for a in load(sidecar_path(out, "articles"))] == ["q3"]
    assert summary.skipped == [] and summary.duplicates == 0
    named = src / ".ipynb_checkpoints" / "q3-checkpoint.txt"
    ingest([named], out, show_progress=False)
    assert [a["id"] for a in load(sidecar_path(out, "articles"))] == ["q3-checkpoint"]


def test_python_api_without_files():
    raw = RawArticle(content="<p>小米汽车交付创新高。</p><p>华为问界销量增长。</p>", source="mem", markup="html")
    (article, records), = ingest_articles([raw], IngestConfig())
    assert [r["text"] for r in records] == ["小米汽车交付创新高。", "华为问界销量增长。"]
    assert article["text"][records[1]["start"] : records[1]["end"]] == records[1]["text"]
    assert json.loads(json.dumps(records[0]))["article_id"] == article["id"]


def test_invisible_characters_are_dropped_so_names_and_duplicates_are_found(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    plain = "小米汽车交付量创新高，华为问界销量下滑。"
    (src / "a.txt").write_text("小米\u200b汽车交付量创新高，华\u200b为问界\u00ad销量下滑。\ufeff", encoding="utf-8")
    (src / "b.txt").write_text(plain, encoding="utf-8")
    (src / "c.jsonl").write_text(
        json.dumps({"id": "c", "title": "\u200e小米\u2060新闻", "text": "点赞👍🏻，全家👨\u200d👩\u200d👧都用小米。"}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "o.jsonl"
    ingest([src], out, show_progress=False)
    records = {rec["article_id"]: rec for rec in check_offsets(out)}
    assert records["a"]["text"] == plain
    assert records["b"]["duplicate_of"] == records["a"]["id"]
    assert records["c"]["text"] == "点赞👍🏻，全家👨\u200d👩\u200d👧都用小米。"  # joiners shape the emoji: kept
    assert {a["id"]: a["title"] for a in load(sidecar_path(out, "articles"))}["c"] == "小米新闻"


def test_an_earlier_runs_outputs_in_the_input_folder_are_skipped_not_ingested_again(tmp_path, examples):
    src = tmp_path / "in"
    shutil.copytree(examples, src)
    (src / "empty.txt").write_bytes(b"")  # so that the first run's log has a line
    first = ingest([src], src / "run1.jsonl", show_progress=False)
    second = ingest([src], src / "run2.jsonl", show_progress=False)
    reasons = {Path(s.source).name: s.reason for s in second.skipped}
    assert "sentence records" in reasons.pop("run1.jsonl")
    assert "cleaned articles of an earlier ingest" in reasons.pop("run1.articles.jsonl")
    assert "ingest log" in reasons.pop("run1.log.jsonl")
    assert reasons == {Path(s.source).name: s.reason for s in first.skipped} == {"empty.txt": "empty file"}
    assert (src / "run1.jsonl").read_bytes() == (src / "run2.jsonl").read_bytes()


def test_every_skipped_input_and_warning_is_logged_next_to_the_output(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    lines = ["{bad"] * 3 + [json.dumps({"id": "ok", "title": ["x"], "text": "小米汽车交付创新高。"}), json.dumps({"id": "e", "text": ""})]
    lines.append(json.dumps({"content": "小米汽车交付创新高。", "title": "t"}))  # a scrape's own name for the text
    (src / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    summary = ingest([src], out, show_progress=False)
    log = load(sidecar_path(out, "log"))
    assert [(row["level"], Path(row["source"]).name) for row in log] == [
        ("skipped", "a.jsonl:1"), ("skipped", "a.jsonl:2"), ("skipped", "a.jsonl:3"), ("skipped", "a.jsonl:5"),
        ("skipped", "a.jsonl:6"), ("warning", "a.jsonl:4"),
    ]
    assert log[3]["message"] == "article has no non-empty 'text' or 'html' field"
    assert log[4]["message"] == "article has no 'text' or 'html' field (its fields: content, title)"
    assert log[-1]["message"] == summary.warnings[0][1] and "'title' is an array" in log[-1]["message"]


def test_a_jsonl_article_with_empty_text_is_read_from_its_html(tmp_path):
    # Scrapers export both fields and leave "text" empty (or null, or blank) where their extraction failed.
    rows = [{"id": f"a{i}", "text": text, "html": f"<p>小米股价第{i}天上涨。</p>"} for i, text in enumerate(["", None, " \n"])]
    rows.append({"id": "kept", "text": "华为发布新机。", "html": "<p>不读这里。</p>"})  # text wins where it has some
    rows.append({"id": "none", "text": " ", "html": None})
    src = tmp_path / "a.jsonl"
    src.write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    summary = ingest([src], out, show_progress=False)
    assert [(rec["article_id"], rec["text"]) for rec in load(out)] == [
        ("a0", "小米股价第0天上涨。"), ("a1", "小米股价第1天上涨。"), ("a2", "小米股价第2天上涨。"), ("kept", "华为发布新机。"),
    ]
    assert [(Path(s.source).name, s.reason) for s in summary.skipped] == [
        ("a.jsonl:5", "article has no non-empty 'text' or 'html' field")
    ]


def test_html_character_references_left_in_plain_text_are_decoded_and_nothing_else():
    text = "小米&nbsp;SU7 &ldquo;Ultra&rdquo;售价&yen;52.99万，华&#8203;为&amp;荣耀。R&D、AT&T、&copy2025、&nosuch;不变。"
    (article, records), = ingest_articles([RawArticle(text, "mem")])
    assert article["text"] == "小米\xa0SU7 “Ultra”售价¥52.99万，华为&荣耀。R&D、AT&T、&copy2025、&nosuch;不变。"
    assert "华为&荣耀" in records[0]["text_norm"]  # &#8203; is a zero-width space: decoded, then dropped


def test_gzipped_and_shtml_inputs_read_as_their_content_and_a_corrupt_one_is_skipped_with_its_reason(tmp_path, examples):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("xiaomi-q3-results.txt", "briefs.jsonl"):
        (src / f"{name}.gz").write_bytes(gzip.compress((examples / name).read_bytes()))
    # a page saved under a Chinese news site's own name for it
    (src / "doc-1.shtml.gz").write_bytes(gzip.compress((examples / "phone-market-page.html").read_bytes()))
    (src / "gbk.TXT.GZ").write_bytes(gzip.compress("小米手机出货量同比增长，高端化战略初见成效。".encode("gbk")))
    (src / "bad.txt.gz").write_bytes(b"not gzip at all")
    lines = b"".join(json.dumps({"id": f"n{i}", "text": f"第{i}篇正文。"}).encode() + b"\n" for i in range(2000))
    (src / "cut.jsonl.gz").write_bytes(gzip.compress(lines)[:-40])  # a download cut short
    (src / "notes.csv.gz").write_bytes(gzip.compress(b"a,b\n"))
    out = tmp_path / "o.jsonl"
    summary = ingest([src, src / "notes.csv.gz"], out, show_progress=False)

    reasons = {Path(s.source).name: s.reason for s in summary.skipped}
    assert reasons.pop("bad.txt.gz").startswith("cannot read file (Not a gzipped file")
    assert reasons.pop("notes.csv.gz") == "unsupported file type '.csv.gz'"  # named, so reported
    (where, reason), = reasons.items()
    assert where.startswith("cut.jsonl.gz:") and reason.startswith("cannot read on from this line")
    reference = tmp_path / "ref.jsonl"
    ingest([examples / name for name in ("xiaomi-q3-results.txt", "briefs.jsonl", "phone-market-page.html")],
           reference, show_progress=False)
    records = load(out)
    ids = {rec["article_id"] for rec in records}
    same = [rec["text"] for rec in records if rec["article_id"] != "gbk" and not rec["article_id"].startswith("n")]
    assert sorted(same) == sorted(rec["text"] for rec in load(reference))
    assert {"xiaomi-q3-results", "gbk", "doc-1"} <= ids
    cut = sorted(int(i[1:]) for i in ids if i.startswith("n"))
    assert cut == list(range(len(cut))) and 0 < len(cut) < 2000  # every line before the cut is kept


def test_a_file_that_cannot_be_opened_is_skipped_with_the_reason_not_a_traceback(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("locked.jsonl", "locked.txt"):
        (src / name).write_text('{"text": "读不到的文章。"}\n', encoding="utf-8")
    (src / "ok.txt").write_text("读得到的文章。", encoding="utf-8")

    def refuse(real):  # root reads any file whatever its mode, so the refusal is staged
        def opener(path, *args, **kwargs):
            if "locked" in str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)
        return opener

    monkeypatch.setattr(toolkit.io, "open_binary", refuse(toolkit.io.open_binary))
    monkeypatch.setattr(os, "open", refuse(os.open))
    summary = ingest([src], tmp_path / "o.jsonl", show_progress=False)
    assert {Path(s.source).name: s.reason for s in summary.skipped} == {
        "locked.jsonl": "cannot read file (Permission denied)",
        "locked.txt": "cannot read file (Permission denied)",
    }
    assert [rec["text"] for rec in load(tmp_path / "o.jsonl")] == ["读得到的文章。"]

import re
import shutil
import subprocess

import lxml.html
import pytest
import yaml
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import InputError
from toolkit.pipeline.run import Pipeline, PipelineConfig
from toolkit.report.html import build_report

runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, examples):
    root = tmp_path_factory.mktemp("pipeline")
    articles = root / "articles"
    shutil.copytree(examples, articles)
    config = root / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"reviewed": ["examples/reviewed.jsonl"], "train_config": "configs/tiny.yaml"}))
    wd = root / "work"
    results = Pipeline([articles], wd, PipelineConfig.load(config), show_progress=False, log=lambda _: None).run()
    return root, articles, config, wd, results


def test_every_stage_runs_and_writes_its_files(workdir):
    _, _, _, wd, results = workdir
    status = {r.name: r.status for r in results}
    assert status["push"].startswith("skipped")
    assert all(status[s] == "ran" for s in ("ingest", "preannotate", "dataset", "train", "evaluate", "predict"))
    for name in ("sentences.jsonl", "preannotated.jsonl", "dataset/manifest.json", "model/model-best/model.safetensors",
                 "report/metrics.json", "predictions.jsonl", "predictions.articles.jsonl", "pipeline-state.json"):
        assert (wd / name).exists(), name


def test_rerun_skips_unchanged_stages_and_reruns_changed_ones(workdir):
    root, articles, config, wd, _ = workdir
    again = Pipeline([articles], wd, PipelineConfig.load(config), show_progress=False, log=lambda _: None).run()
    assert {r.name: r.status for r in again if not r.status.startswith("skipped (no")} == {
        s: "skipped (unchanged)" for s in ("ingest", "preannotate", "dataset", "train", "evaluate", "predict")}
    (articles / "new.txt").write_text("小米汽车本月交付再创新高。", encoding="utf-8")
    third = {r.name: r.status for r in Pipeline([articles], wd, PipelineConfig.load(config), show_progress=False,
                                                 log=lambda _: None).run()}
    assert third["ingest"] == "ran" and third["preannotate"] == "ran" and third["predict"] == "ran"
    assert third["train"] == "skipped (unchanged)"


def test_a_rule_prior_model_starts_from_the_pipeline_rules(tmp_path, examples):
    rules = tmp_path / "rules.yaml"
    rules.write_text("topic_threshold: 0.4\n", encoding="utf-8")
    train = yaml.safe_load(open("configs/tiny.yaml", encoding="utf-8")) | {"rule_prior": True, "epochs": 1}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train), encoding="utf-8")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"reviewed": ["examples/reviewed.jsonl"], "rules": str(rules),
                                      "train_config": str(tmp_path / "train.yaml")}))
    results = Pipeline([examples], tmp_path / "w", PipelineConfig.load(config), show_progress=False,
                       log=lambda _: None).run()
    assert {r.name: r.status for r in results}["predict"] == "ran"
    saved = yaml.safe_load((tmp_path / "w" / "model" / "model-best" / "rules" / "rules.yaml").read_text(encoding="utf-8"))
    assert saved["topic_threshold"] == 0.4


def test_pipeline_without_reviewed_data_stops_after_preannotation(tmp_path, examples):
    result = runner.invoke(app, ["pipeline", str(examples), "--workdir", str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / "preannotated.jsonl").is_file() and not (tmp_path / "w" / "model").exists()
    assert "no reviewed data" in result.output


def test_report_is_self_contained_and_renders_in_chromium(workdir, tmp_path):
    _, _, _, wd, _ = workdir
    out = build_report(wd, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    for section in ("Corpus", "Label distributions", "Evaluation", "Articles: stance and risks", "Top risk sentences", "Model card"):
        assert f">{section}<" in page
    assert "<script" not in page and "<link" not in page
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', page))
    assert 'href="#article-xiaomi-q3-results"' in page and 'id="article-xiaomi-q3-results"' in page
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required (`make browser`)"
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1200,1800", f"--screenshot={shot}", out.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_report_command_needs_a_work_dir(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "no sentences.jsonl" in result.output


def test_a_run_over_no_readable_article_stops_at_ingest_and_says_why(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "bad.txt.gz").write_bytes(b"not gzip")
    logged: list[str] = []
    with pytest.raises(InputError, match=r"no article read: 2 input\(s\) skipped: .*bad\.txt\.gz: .*empty\.txt: empty file"):
        Pipeline([inputs], tmp_path / "work", PipelineConfig(), show_progress=False, log=logged.append).run()
    assert logged == ["[ingest] running"]  # nothing after it ran on empty input
    assert not (tmp_path / "work" / "sentences.jsonl").exists()  # a failed stage writes no output


def test_ingest_stage_reports_what_it_skipped(tmp_path, examples):
    inputs = tmp_path / "in"
    shutil.copytree(examples, inputs)
    (inputs / "empty.txt").write_bytes(b"")
    logged: list[str] = []
    Pipeline([inputs], tmp_path / "work", PipelineConfig(), show_progress=False, log=logged.append).run()
    line = next(entry for entry in logged if entry.startswith("[ingest] ") and "articles" in entry)
    assert re.fullmatch(r"\[ingest\] \d+ articles, \d+ units; 1 skipped inputs or warnings, listed in .*sentences\.log\.jsonl", line)


def test_report_escapes_hostile_titles_sentences_and_urls(tmp_path):
    from toolkit.io import write_records

    evil = '<a href="javascript:alert(1)">点我</a><script>alert(2)</script>'
    wd = tmp_path / "work"
    write_records(wd / "sentences.jsonl", [{"id": "s1", "article_id": 'a1"><img src=x onerror=alert(3)>', "text": evil,
                                            "kind": "sentence"}])
    write_records(wd / "sentences.articles.jsonl", [
        {"id": 'a1"><img src=x onerror=alert(3)>', "title": evil, "url": "javascript:alert(4)", "n_units": 1},
        {"id": "a2", "title": "ok", "url": " JavaScript:alert(5)", "n_units": 0},
        {"id": "a3", "title": "fine", "url": "https://example.com/a?x=1&y=<2>", "n_units": 0}])
    summary = {"units": 1, "net_stance": -1.0, "competitors": {evil: 1}, "stance": {"risk": 1.0},
               "top_risks": [{"risk": 0.9, "text": evil, "id": "s1"}]}
    write_records(wd / "predictions.articles.jsonl", [{**summary, "article_id": a}
                                                      for a in ('a1"><img src=x onerror=alert(3)>', "a2", "a3")])
    page = build_report(wd, tmp_path / "report.html").read_text(encoding="utf-8")
    tree = lxml.html.fromstring(page)
    assert not tree.xpath("//script") and not tree.xpath("//*[@*[starts-with(name(), 'on')]]")
    hrefs = tree.xpath("//a/@href")
    assert hrefs and all(h.startswith(("#article-", "https://")) for h in hrefs), hrefs
    assert "https://example.com/a?x=1&y=<2>" in hrefs  # the one http(s) source link, its value intact
    assert all(src.startswith("data:image/png;base64,") for src in tree.xpath("//img/@src"))
    assert evil in tree.text_content()  # shown as text, not markup

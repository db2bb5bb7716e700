import json
import subprocess
import sys

from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.io import RecordWriter

runner = CliRunner()


def test_help_lists_every_command_with_a_description():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "preannotate", "evaluate", "labels"):
        assert command in result.output


def test_ingest_command_writes_files_and_summary(tmp_path, examples):
    out = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["ingest", str(examples), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "ingest summary" in result.output and "table_row" in result.output
    assert "boilerplate lines removed" in result.output and "related_links" in result.output
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert {"id", "article_id", "start", "end", "text", "text_norm", "script", "kind"} <= set(first)


def test_ingest_progress_counts_files_and_articles(tmp_path, examples):
    result = runner.invoke(app, ["ingest", str(examples), "--out", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 0, result.output
    files = len([p for p in examples.iterdir() if p.is_file()])
    bar = next(line for line in result.output.splitlines() if line.startswith("ingest "))
    assert f"{files}/{files}" in bar and bar.endswith(" 5 articles")  # briefs.jsonl holds two of the five


def test_error_is_one_line_without_traceback(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "[E100]" in result.output and "missing" in result.output


def test_all_inputs_unreadable_exits_non_zero(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "-q"])
    assert result.exit_code == 1
    assert "empty file" in result.output
    assert f"error [E100] no article read: 1 input(s) skipped: {tmp_path / 'empty.txt'}: empty file" in result.output
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.log.jsonl").exists()


def test_a_failed_ingest_leaves_the_earlier_outputs_as_they_were(tmp_path, examples):
    out = tmp_path / "s.jsonl"
    assert runner.invoke(app, ["ingest", str(examples), "--out", str(out), "-q"]).exit_code == 0
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(written) == {"s.jsonl", "s.articles.jsonl", "s.log.jsonl"} and written["s.jsonl"]
    (tmp_path / "empty.txt").write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(tmp_path / "empty.txt"), "--out", str(out), "-q"])
    assert result.exit_code == 1 and "no article read" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "empty.txt"} == written


def test_a_folder_without_articles_says_so(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.pdf").write_bytes(b"%PDF")
    result = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "o.jsonl"), "-q"])
    assert result.exit_code == 1
    assert "no article read: no .htm .html .jsonl .markdown .md .ndjson .shtml .txt .xhtml file (or .gz of one) in" in result.output


def test_labels_config_prints_xml():
    result = runner.invoke(app, ["labels", "config"])
    assert result.exit_code == 0
    assert result.output.startswith("<View>") and 'name="topics"' in result.output


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "toolkit", "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("toolkit ")


def test_preannotate_command(tmp_path, examples):
    sentences, predictions = tmp_path / "s.jsonl", tmp_path / "p.jsonl"
    assert runner.invoke(app, ["ingest", str(examples), "--out", str(sentences), "-q"]).exit_code == 0
    result = runner.invoke(app, ["preannotate", str(sentences), "--out", str(predictions), "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert all(r["predictions"]["model_version"].startswith("rules-") for r in records)
    assert any(m["entity"] == "huawei" for r in records for m in r["predictions"]["competitors"])


def test_preannotate_refuses_to_overwrite_its_input(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "小米。"}\n', encoding="utf-8")
    result = runner.invoke(app, ["preannotate", str(path), "--out", str(path)])
    assert result.exit_code == 1 and "overwrite" in result.output


def test_a_missing_input_is_reported_before_any_progress_bar_or_output(tmp_path):
    result = runner.invoke(app, ["preannotate", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error [E100] {tmp_path / 'missing.jsonl'}: no such file"]
    assert list(tmp_path.iterdir()) == []


def test_an_option_out_of_range_is_one_line_naming_the_option(tmp_path, examples):
    result = runner.invoke(app, ["ingest", str(examples), "--out", str(tmp_path / "o.jsonl"), "--max-chars", "3"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "[E300] --max-chars:" in result.output and "8" in result.output


def test_encoding_option_reads_files_detection_cannot_tell_and_an_unknown_name_is_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "brief.txt").write_bytes("手機".encode("big5"))  # as GBK the same bytes read も诀: detection can only guess
    out = tmp_path / "o.jsonl"
    guessed = runner.invoke(app, ["ingest", str(src), "--out", str(out), "-q"])
    assert guessed.exit_code == 0
    assert "warning" in guessed.output and "read this text equally well" in guessed.output
    given = runner.invoke(app, ["ingest", str(src), "--out", str(out), "-q", "--encoding", "big5"])
    assert given.exit_code == 0, given.output
    assert "equally well" not in given.output
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["手機"]
    unknown = runner.invoke(app, ["ingest", str(src), "--out", str(tmp_path / "u.jsonl"), "--encoding", "gbkk"])
    assert unknown.exit_code == 1 and "Traceback" not in unknown.output
    assert "[E300] --encoding: unknown encoding 'gbkk'" in unknown.output


def test_an_unwritable_output_fails_before_any_work_in_one_line(tmp_path, examples):
    blocker, folder = tmp_path / "not-a-folder", tmp_path / "taken.jsonl"
    blocker.write_text("x", encoding="utf-8")
    folder.mkdir()
    for out, message in ((blocker / "o.jsonl", "cannot write here"), (folder, "is a folder")):
        result = runner.invoke(app, ["ingest", str(examples), "--out", str(out), "-q"])
        assert result.exit_code == 1, out
        assert "Traceback" not in result.output
        assert f"{out}: {message}" in " ".join(result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder", "taken.jsonl"]  # nothing half-written


def test_a_flood_of_skipped_lines_prints_the_first_few_and_points_to_the_log(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("{bad\n" * 25 + '{"id": "ok", "text": "小米汽车交付创新高。"}\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["ingest", str(src), "--out", str(out), "-q"])
    assert result.exit_code == 0
    assert result.output.count("invalid JSON") == 10
    assert f"… and 15 more in {tmp_path / 'o.log.jsonl'}" in result.output
    assert len((tmp_path / "o.log.jsonl").read_text(encoding="utf-8").splitlines()) == 25


def test_a_full_disk_is_one_line_and_leaves_no_output(tmp_path, examples, monkeypatch):
    def full(self, records):
        raise OSError(28, "No space left on device", str(self.path) + ".tmp")

    monkeypatch.setattr(RecordWriter, "write_many", full)
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["ingest", str(examples), "--out", str(out), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"error {tmp_path}") and result.output.endswith(".tmp: No space left on device\n")
    assert list(tmp_path.iterdir()) == []  # no output, not even a temporary one

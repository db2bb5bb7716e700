"""``toolkit predict --engine ray`` on a real local Ray runtime: the same predictions as the local engine, shards,
resume, failed inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import InputError
from toolkit.io import read_records
from toolkit.predict.distributed import discover_inputs, iter_shards, run_predict_ray, shard_name
from toolkit.predict.run import run_predict

ray = pytest.importorskip("ray", reason="the Ray engine is the [ray] extra, which the dev install includes")


@pytest.fixture(scope="module")
def ray_runtime():
    """One local runtime for the module (2 CPUs, as CI has); ``run_predict_ray`` joins it instead of starting
    one per call, and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture()
def inputs(examples, tmp_path) -> Path:
    """A copy of the bundled sample articles (four files; briefs.jsonl holds several articles)."""
    folder = tmp_path / "in"
    shutil.copytree(examples, folder)
    return folder


def _scores(record: dict) -> dict[str, float]:
    return {f"{task}:{label}": p for task, block in record["predictions"].items()
            if isinstance(block, dict) and "scores" in block for label, p in block["scores"].items()}


def _decisions(record: dict) -> dict:
    return {task: block.get("label", block.get("labels")) for task, block in record["predictions"].items()
            if isinstance(block, dict) and "scores" in block}


def assert_same_predictions(expected: list[dict], got: list[dict]) -> None:
    """Same ids in the same order, same fields, same labels and spans, probabilities within 1e-5 (batches of
    other sizes round differently in the last bits)."""
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for a, b in zip(expected, got):
        assert _decisions(a) == _decisions(b)
        assert a["predictions"]["competitors"] == b["predictions"]["competitors"]
        sa, sb = _scores(a), _scores(b)
        assert sa.keys() == sb.keys() and max(abs(sa[k] - sb[k]) for k in sa) <= 1e-5
        assert {k: v for k, v in a.items() if k != "predictions"} == {k: v for k, v in b.items() if k != "predictions"}


def test_ray_predicts_what_the_local_engine_predicts(ray_runtime, prior_model, inputs, tmp_path):
    run_predict(prior_model, [inputs], tmp_path / "local.jsonl", show_progress=False)
    result = run_predict_ray(prior_model, [inputs], tmp_path / "ray", workers=2, show_progress=False)
    local = list(read_records(tmp_path / "local.jsonl"))
    assert len(local) > 30 and result.sentences == len(local)
    assert_same_predictions(local, list(iter_shards(tmp_path / "ray")))
    local_articles = sorted(read_records(tmp_path / "local.articles.jsonl"), key=lambda r: r["article_id"])
    ray_articles = sorted(read_records(tmp_path / "ray" / "articles.jsonl"), key=lambda r: r["article_id"])
    assert [a["article_id"] for a in ray_articles] == [a["article_id"] for a in local_articles]
    assert [a["units"] for a in ray_articles] == [a["units"] for a in local_articles]
    assert result.articles == len(local_articles) and result.failed_inputs == []


def test_a_rerun_skips_written_shards_and_redoes_a_missing_one(ray_runtime, tiny_model, inputs, tmp_path):
    out = tmp_path / "ray"
    first = run_predict_ray(tiny_model, [inputs], out, fmt="jsonl", show_progress=False)
    shards = sorted((out / "sentences").iterdir())
    assert first.shards_written == len(shards) == len(discover_inputs([str(inputs)]))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    redo = list(read_records(shards[0]))
    shards[0].unlink()
    second = run_predict_ray(tiny_model, [inputs], out, fmt="jsonl", show_progress=False)
    assert (second.shards_existing, second.shards_written) == (len(shards) - 1, 1)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((out / "sentences").iterdir())}
    assert after.keys() == before.keys()
    for name in before:
        if name != shards[0].name:
            assert after[name] == before[name]  # not touched
    assert_same_predictions(redo, list(read_records(shards[0])))
    # the merged article summaries cover the shards of both runs
    assert len(list(read_records(out / "articles.jsonl"))) == first.articles


def test_failed_and_skipped_inputs_are_listed_and_get_no_shard(ray_runtime, tiny_model, inputs, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "numbers.jsonl").write_text('{"text": 5}\n{"title": "no body"}\n', encoding="utf-8")
    (bad / "half.jsonl").write_text('{"text": "小米汽车本月交付超过两万台。"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "ray"
    result = run_predict_ray(tiny_model, [inputs, bad], out, show_progress=False)
    numbers, half = str(bad / "numbers.jsonl"), str(bad / "half.jsonl")
    assert result.failed_inputs == [numbers]
    reasons = {item.source for item in result.skipped_inputs}
    assert {f"{numbers}:1", f"{numbers}:2", f"{half}:2"} <= reasons
    assert not (out / "sentences" / f"{shard_name(numbers)}.parquet").exists()
    assert (out / "sentences" / f"{shard_name(half)}.parquet").exists()
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["failed_inputs"] == [numbers]
    assert half in {entry["input"] for entry in manifest["shards"]}


def test_predict_command_with_the_ray_engine(ray_runtime, tiny_model, examples, tmp_path):
    result = CliRunner().invoke(app, ["predict", str(examples), "--model", str(tiny_model), "--out",
                                      str(tmp_path / "ray"), "--engine", "ray", "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "sentences in" in result.output and "shards written" in result.output
    assert len(list(iter_shards(tmp_path / "ray"))) > 30


def test_ray_output_must_be_a_folder(tiny_model, examples, tmp_path):
    with pytest.raises(InputError, match="folder of shards"):
        run_predict_ray(tiny_model, [examples], tmp_path / "p.jsonl", show_progress=False)



def test_local_only_options_are_refused_with_the_ray_engine(tiny_model, examples, tmp_path):
    for extra, message in ((["--device", "cuda"], "actors run on CPUs"), (["--resume"], "always skips the shards")):
        result = CliRunner().invoke(app, ["predict", str(examples), "--model", str(tiny_model), "--out",
                                          str(tmp_path / "ray"), "--engine", "ray", *extra])
        assert result.exit_code == 1 and message in result.output, result.output
        assert not (tmp_path / "ray").exists()

"""Batch inference against the hardware's limit: ``toolkit predict`` locally, on Ray with 1 and 2 workers, and
with the int8 ONNX export, as a share of this machine's fp32 matmul peak measured in the same run.

Two sets of 4,000 sentence records, written as 8 files of 500 (shards for Ray):
- short: real finance and tech headlines (``../shared/datasets/finance-headlines-zh``), about 20 characters;
- mixed: 40 to 240 characters (uniform), made by joining consecutive headlines into one sentence.
Without ../shared the sentences of the bundled sample articles stand in for the headlines.

Each configuration runs as its own ``toolkit predict`` process, timed from start to exit (imports and model
load included), like a user's run. Useful FLOPs are the encoder's matmuls over the real token counts (after
truncation to the model's ``max_length``; padding not counted, see ``_speed.useful_flops``). Then, in this
process, where the rest goes: padded against real tokens per batch, and the time inside the encoder's
forward passes against the whole predict call.

    python benchmarks/predict_scale.py --model build/review-model/model-best
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from toolkit.ingest import ingest
from toolkit.ingest.normalize import normalize
from toolkit.io import read_records, write_records
from toolkit.model import TextClassifier
from toolkit.predict.batch import BATCH_TOKENS, predict_records
from toolkit.predict.onnx import export_onnx

from _speed import cpu_description, matmul_peak, useful_flops

ROOT = Path(__file__).resolve().parent.parent
HEADLINES = ROOT.parent / "shared" / "datasets" / "finance-headlines-zh" / "headlines.txt"
TOOLKIT = Path(sys.executable).with_name("toolkit")


def source_sentences() -> tuple[list[str], str]:
    """Short news texts: the shared headlines, else the bundled sample's sentences."""
    if HEADLINES.exists():
        lines = [line.strip() for line in HEADLINES.read_text(encoding="utf-8").splitlines() if line.strip()]
        return lines, f"{HEADLINES.name} ({len(lines):,} headlines)"
    with tempfile.TemporaryDirectory() as tmp:
        ingest([ROOT / "examples" / "articles"], Path(tmp) / "s.jsonl", show_progress=False)
        lines = [r["text"] for r in read_records(Path(tmp) / "s.jsonl")]
    return lines, f"bundled sample sentences ({len(lines)})"


def build_set(lines: list[str], n: int, kind: str, rng: random.Random) -> list[dict]:
    """``n`` sentence records, 40 per article id; ``mixed`` joins consecutive lines up to a length drawn
    uniformly from 40 to 240 characters."""
    texts, i = [], rng.randrange(len(lines))
    while len(texts) < n:
        if kind == "short":
            texts.append(lines[i % len(lines)])
            i += 1
            continue
        target, parts = rng.randint(40, 240), []
        while sum(map(len, parts)) < target:
            parts.append(lines[i % len(lines)])
            i += 1
        texts.append("，".join(parts)[:target] + "。")
    return [{"id": f"{kind}-{k:05d}", "article_id": f"{kind}-a{k // 40:04d}", "index": k % 40, "text": t,
             "text_norm": normalize(t), "start": 0, "end": len(t)} for k, t in enumerate(texts)]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def command(name: str, folder: Path, out: Path, args: argparse.Namespace, onnx_dir: Path | None, cpus: int) -> list[str]:
    """The ``toolkit predict`` command line of one configuration (a fresh ``out`` per run)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(TOOLKIT), "predict", str(folder), "-q", "--batch-size", str(args.batch_size)]
    if name == "local":
        return cmd + ["--model", str(args.model), "--out", str(out / "p.jsonl")]
    if name == "onnx-int8":
        return cmd + ["--model", str(onnx_dir), "--backend", "onnx", "--out", str(out / "p.jsonl")]
    workers = int(name.split("-")[1])
    return cmd + ["--model", str(args.model), "--out", str(out), "--engine", "ray", "--workers", str(workers),
                  "--threads", str(max(1, cpus // workers)), "--format", "jsonl"]


def cpu_by_process(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd`` and add up the CPU seconds of every process on the machine while it runs, grouped as the
    model actors, the driver (``toolkit predict`` itself), Ray Data's own actors and Ray's daemons: where a
    Ray run's time goes besides the model."""
    import psutil

    def group(proc: psutil.Process) -> str | None:
        line = " ".join(proc.cmdline())
        if "MapBatches(Predictor)" in line:
            return "model actors"
        if proc.pid == child.pid:
            return "driver"
        if line.startswith("ray::"):
            return "Ray Data actors and task workers"
        return "Ray daemons (raylet, GCS, dashboard, agents)" if "ray" in line else None

    seen: dict[int, tuple[str, float]] = {}
    child = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None:
        for proc in psutil.process_iter():
            try:
                name = group(proc)
                if name:
                    times = proc.cpu_times()
                    seen[proc.pid] = (name, times.user + times.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        time.sleep(0.5)
    totals: dict[str, float] = {}
    for name, seconds in seen.values():
        totals[name] = totals.get(name, 0.0) + seconds
    return totals


def fixed_costs(model: Path, tmp: Path, cpus: int) -> dict[str, float]:
    """What a run pays whatever its size: ``toolkit predict`` of one sentence (interpreter, imports, model
    load, writing), and a local Ray runtime's start and stop (paid by every ``--engine ray`` run without
    ``--address``; a cluster's runtime is already up)."""
    one = tmp / "one.jsonl"
    write_records(one, [{"id": "1", "article_id": "a", "text": "小米汽车交付创新高。", "text_norm": "小米汽车交付创新高。",
                         "start": 0, "end": 10}])
    process = timed([str(TOOLKIT), "predict", str(one), "--model", str(model), "--out", str(tmp / "one-out.jsonl"), "-q"])
    runtime = timed([sys.executable, "-c", f"import ray; ray.init(num_cpus={cpus}, include_dashboard=False); "
                                           "ray.shutdown()"])
    return {"local predict of one sentence": process, "Ray runtime start and stop": runtime}


def breakdown(clf: TextClassifier, records: list[dict], batch_size: int, batch_tokens: int | None) -> dict[str, float]:
    """One in-process predict over ``records``: its time, the time inside the encoder's forward passes, and
    padded against real tokens over the batches it ran."""
    encoder, tokens = clf.model.encoder, {"real": 0, "padded": 0}
    forward, seconds = encoder.forward, [0.0]

    def timed_forward(*args, **kwargs):
        start = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            seconds[0] += time.perf_counter() - start
            mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
            tokens["real"] += int(mask.sum())
            tokens["padded"] += mask.numel()

    encoder.forward = timed_forward
    try:
        start = time.perf_counter()
        for _ in predict_records(clf, records, batch_size=batch_size, batch_tokens=batch_tokens):
            pass
        total = time.perf_counter() - start
    finally:
        del encoder.forward
    return {"total": total, "encoder": seconds[0], **tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "build" / "review-model" / "model-best")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sets", nargs="+", default=["short", "mixed"])
    parser.add_argument("--configs", nargs="+", default=["local", "ray-1", "ray-2", "onnx-int8"])
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the configurations this many times, interleaved; report the median and range")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    clf = TextClassifier.load(args.model)
    lines, origin = source_sentences()
    rng = random.Random(7)
    cpus = os.cpu_count() or 1
    peak = matmul_peak()
    print(f"{date.today()}; {cpu_description()}; {cpus} CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; fp32 matmul peak (torch.mm 2048²) {peak:.1f} GFLOP/s")
    print(f"model {args.model} ({clf.model_version}), max_length {clf.meta['max_length']}; texts from {origin}")
    results = {"peak_gflops": peak, "cpus": cpus, "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fixed = fixed_costs(args.model, tmp, cpus)
        results["fixed_seconds"] = fixed
        print("fixed costs: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in fixed.items()))
        onnx_dir = export_onnx(args.model, tmp / "onnx-int8", int8=True) if "onnx-int8" in args.configs else None
        for kind in args.sets:
            records = build_set(lines, args.n, kind, rng)
            folder = tmp / kind
            per_file = -(-len(records) // args.files)
            for f in range(args.files):
                write_records(folder / f"part-{f:02d}.jsonl", records[f * per_file:(f + 1) * per_file])
            prefix, max_length = clf.meta["text_prefix"], clf.meta["max_length"]
            lengths = [len(ids) for ids in clf.tokenizer([prefix + r["text_norm"] for r in records], truncation=True,
                                                         max_length=max_length)["input_ids"]]
            flops = useful_flops(clf.model.encoder.config, lengths)
            chars = [len(r["text"]) for r in records]
            print(f"\n{kind}: {len(records):,} sentences, {min(chars)}–{max(chars)} characters (mean "
                  f"{sum(chars) / len(chars):.0f}), {sum(lengths) / len(lengths):.1f} tokens on average, "
                  f"useful work {flops / 1e12:.2f} TFLOP = {flops / peak / 1e9:.1f} s at peak")
            peak = max(peak, matmul_peak())  # again beside each set: the best seen is the machine's peak
            print(f"  fp32 matmul peak, best so far: {peak:.1f} GFLOP/s")
            times: dict[str, list[float]] = {name: [] for name in args.configs}
            for _ in range(args.repeat):  # interleaved, so a VM's drift hits every configuration alike
                for name in args.configs:
                    times[name].append(timed(command(name, folder, tmp / f"{kind}-{name}", args, onnx_dir, cpus)))
            rows = {}
            for name, runs in times.items():
                seconds = statistics.median(runs)
                share = flops / seconds / 1e9 / peak
                rows[name] = {"seconds": seconds, "runs": runs, "sentences_per_s": len(records) / seconds,
                              "share_of_peak": share}
                spread = f" ({min(runs):.1f}–{max(runs):.1f})" if len(runs) > 1 else ""
                print(f"  {name:10s} {seconds:7.1f} s{spread}  {len(records) / seconds:7.1f} sentences/s  "
                      f"{flops / seconds / 1e9:6.1f} useful GFLOP/s = {100 * share:5.1f} % of peak")
            if "local" in rows:
                for name in rows:
                    if name.startswith("ray"):
                        print(f"  {name} against local: {100 * (rows[name]['seconds'] / rows['local']['seconds'] - 1):+.1f} % time")
            if "ray-1" in args.configs:
                cpu = cpu_by_process(command("ray-1", folder, tmp / f"{kind}-ray-cpu", args, onnx_dir, cpus))
                rows["ray-1"]["cpu_seconds"] = cpu
                print("  ray-1 CPU seconds by process (one more run): "
                      + ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])))
            parts = {}
            for label, budget in (("token budget 2,048", BATCH_TOKENS), ("64 per batch, no budget", None)):
                parts[label] = p = breakdown(clf, records, args.batch_size, budget)
                print(f"  in-process predict, {label}: {p['total']:.1f} s, of which inside the encoder "
                      f"{p['encoder']:.1f} s ({100 * p['encoder'] / p['total']:.0f} %); padded tokens {p['padded']:,} "
                      f"for {p['real']:,} real ({100 * (p['padded'] / p['real'] - 1):.1f} % padding); encoder at "
                      f"{100 * flops / p['encoder'] / 1e9 / peak:.1f} % of peak")
            results["peak_gflops"] = peak
            results["sets"][kind] = {"sentences": len(records), "peak_gflops": peak, "mean_tokens": sum(lengths) / len(lengths),
                                     "useful_tflop": flops / 1e12, "runs": rows, "breakdown": parts}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

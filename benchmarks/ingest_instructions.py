"""Ingest cost in CPU instructions per article, counted by valgrind: the same on every run.

Wall-clock figures on a shared VM move by ±20 % within minutes, so a change worth a few per cent cannot
be seen in them. Instruction counts can: this script runs `toolkit.ingest.ingest` under callgrind on two
corpora of the same articles (one twice the size of the other) and divides the difference by the
difference in articles, which removes start-up and imports. With ``--functions`` it also lists where the
extra instructions go (C functions: the regex engine, OpenCC, the interpreter loop, malloc ...).

    python benchmarks/ingest_instructions.py                    # bundled samples, article JSONL
    python benchmarks/ingest_instructions.py --form txt --functions 25

Compare two checkouts by running it with ``PYTHONPATH`` set to each. Needs valgrind (Debian: valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from ingest import SAMPLES, build_corpus

RUN = "import sys; from toolkit.ingest import ingest; ingest([sys.argv[1]], sys.argv[2], show_progress=False)"
_COST_LINE = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.+?)(?: \[.*\])?$")


def callgrind(source: Path, out: Path, profile: Path) -> int:
    """Instructions of one ingest run (process start included), with the profile written to ``profile``."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", sys.executable, "-c", RUN, str(source), str(out)],
        capture_output=True, text=True, check=True,
        cwd=out.parent,  # not the caller's folder, which would shadow PYTHONPATH
        env={**os.environ, "PYTHONHASHSEED": "0"},  # same dict and set layouts, so the same count every run
    )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def by_function(profile: Path) -> Counter[str]:
    """Exclusive instructions per C function, from ``callgrind_annotate``."""
    listing = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(profile)], capture_output=True, text=True, check=True
    ).stdout
    costs: Counter[str] = Counter()
    for line in listing.splitlines():
        match = _COST_LINE.match(line)
        if match and "PROGRAM TOTALS" not in line:
            costs[match.group(2).rsplit("/", 1)[-1]] += int(match.group(1).replace(",", ""))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=0.3, help="size of the smaller corpus in MB")
    parser.add_argument("--source", type=Path, default=SAMPLES, help="folder of .txt articles to repeat")
    parser.add_argument("--form", choices=("jsonl", "txt"), default="jsonl", help="input form to ingest")
    parser.add_argument("--functions", type=int, default=0, help="list this many C functions by cost")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for scale in (1, 2):
            work = Path(tmp) / f"x{scale}"
            work.mkdir()
            txt_dir, jsonl, _ = build_corpus(work, int(args.mb * scale * 1_000_000), args.source)
            out = work / "out.jsonl"
            total = callgrind(jsonl if args.form == "jsonl" else txt_dir, out, work / "callgrind.out")
            articles = sum(1 for _ in (work / "out.articles.jsonl").open(encoding="utf-8"))
            runs.append((total, articles, work / "callgrind.out"))
        (small, n_small, profile_small), (large, n_large, profile_large) = runs
        per_article = (large - small) / (n_large - n_small)
        print(f"{args.source} as {args.form}: {per_article:,.0f} instructions per article ({n_small} and {n_large} articles)")
        if args.functions:
            extra = by_function(profile_large)
            extra.subtract(by_function(profile_small))
            for name, cost in extra.most_common(args.functions):
                print(f"{cost / (n_large - n_small):10,.0f} {100 * cost / (large - small):5.1f} %  {name}")


if __name__ == "__main__":
    main()

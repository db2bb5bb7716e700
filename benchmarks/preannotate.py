"""Rule pre-annotation throughput: sentences per second on one core.

Ingests the bundled sample articles, repeats their units to --n sentences and times
`RulePreannotator.annotate` over them (the full prediction block: scores, topics, mentions, reasons).

    python benchmarks/preannotate.py --n 100000
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
from pathlib import Path

from _speed import cpu_description, reference_loop_seconds

from toolkit.annotate import RulePreannotator
from toolkit.ingest import ingest
from toolkit.io import read_records

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "articles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="number of sentences to annotate")
    parser.add_argument("--source", type=Path, default=SAMPLES, help="articles to take sentences from")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best is reported (as timeit)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.jsonl"
        ingest([args.source], out, show_progress=False)
        units = list(read_records(out))
    records = list(itertools.islice(itertools.cycle(units), args.n))
    rules = RulePreannotator()
    chars = sum(len(r["text"]) for r in records) / len(records)
    print(f"python {platform.python_version()}, 1 core, {len(units)} distinct units of {args.source}, "
          f"mean {chars:.0f} chars; best of {args.repeat} runs")
    print(f"cpu: {cpu_description()}; reference loop (5 M additions): {reference_loop_seconds():.3f} s")
    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        done = sum(1 for _ in rules.annotate(records))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(f"{done} sentences: best {min(walls):.2f} s wall ({done / min(walls):,.0f} sentences/s), "
          f"{min(cpus):.2f} s CPU ({done / min(cpus):,.0f} sentences/s); slowest run {max(walls):.2f} s wall")


if __name__ == "__main__":
    main()

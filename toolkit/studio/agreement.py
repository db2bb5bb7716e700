"""Inter-annotator agreement over reviewed records.

Functions take ``units``: one list of the values the annotators gave per unit (a unit with fewer than two
values carries no agreement information and is ignored). Values are compared as nominal categories.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from sklearn.metrics import cohen_kappa_score

from toolkit.labels import LabelSchema, load_schema

Units = Sequence[Sequence[Hashable]]


def percent_agreement(units: Units) -> float:
    """Share of units (with ≥ 2 values) on which every annotator gave the same value."""
    rated = [u for u in units if len(u) >= 2]
    return sum(len(set(u)) == 1 for u in rated) / len(rated) if rated else float("nan")


def fleiss_kappa(units: Units) -> float:
    """Fleiss' kappa, generalised to a varying number of raters per unit.

    P_i = (Σ_j n_ij² − n_i) / (n_i (n_i − 1)),  P̄ = mean P_i,  p_j = Σ_i n_ij / Σ_i n_i,  P_e = Σ_j p_j²,
    κ = (P̄ − P_e) / (1 − P_e).
    """
    rated = [Counter(u) for u in units if len(u) >= 2]
    if not rated:
        return float("nan")
    p_bar = sum(
        (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
        for counts in rated
        for n in [sum(counts.values())]
    ) / len(rated)
    totals: Counter[Hashable] = Counter()
    for counts in rated:
        totals.update(counts)
    grand = sum(totals.values())
    p_e = sum((c / grand) ** 2 for c in totals.values())
    return (p_bar - p_e) / (1 - p_e) if p_e < 1 else 1.0


def krippendorff_alpha(units: Units) -> float:
    """Krippendorff's alpha for nominal data, any number of annotators, missing values allowed.

    Coincidences o_ck = Σ_u (number of (c, k) pairs from different annotators in u) / (m_u − 1);
    α = 1 − (n − 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k, with n_c = Σ_k o_ck and n = Σ_c n_c.
    """
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for unit in units:
        m = len(unit)
        if m < 2:
            continue
        for a, b in itertools.permutations(unit, 2):
            coincidence[(a, b)] += 1 / (m - 1)
    n_c: Counter[Hashable] = Counter()
    for (c, _), weight in coincidence.items():
        n_c[c] += weight
    n = sum(n_c.values())
    if n <= 1:
        return float("nan")
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    return 1 - (n - 1) * observed / expected if expected else 1.0


def pairwise_cohen(ratings: Sequence[dict[Any, Hashable]]) -> dict[str, float]:
    """Cohen's kappa for every pair of annotators, over the units both labelled.

    ``ratings``: per unit, annotator → value.
    """
    annotators = sorted({a for unit in ratings for a in unit}, key=str)
    codes: dict[Hashable, int] = {}  # category codes: scikit-learn wants scalars, values may be tuples
    for unit in ratings:
        for value in unit.values():
            codes.setdefault(value, len(codes))
    result = {}
    for a, b in itertools.combinations(annotators, 2):
        shared = [(codes[u[a]], codes[u[b]]) for u in ratings if a in u and b in u]
        if shared:
            first, second = zip(*shared)
            agree_all = len(set(first) | set(second)) == 1
            result[f"{a}-{b}"] = 1.0 if agree_all else float(cohen_kappa_score(first, second))
    return result


def _field_stats(ratings: list[dict[Any, Hashable]]) -> dict[str, Any]:
    units = [list(r.values()) for r in ratings]
    return {
        "units": sum(len(u) >= 2 for u in units),
        "percent_agreement": percent_agreement(units),
        "cohen_kappa": pairwise_cohen(ratings),
        "fleiss_kappa": fleiss_kappa(units),
        "krippendorff_alpha": krippendorff_alpha(units),
    }


def agreement_report(records: Sequence[dict[str, Any]], schema: LabelSchema | None = None) -> dict[str, Any]:
    """Per field: pairwise Cohen's kappa, Fleiss' kappa, Krippendorff's alpha, percent agreement; per topic
    (multi-choice fields, each label as yes/no) the same; and the list of disagreements."""
    schema = schema or load_schema()
    report: dict[str, Any] = {"fields": {}, "per_label": {}, "disagreements": []}
    for task in schema.tasks:
        ratings = []
        for record in records:
            given = {a["annotator"]: a[task.name] for a in record.get("annotations", []) if a.get(task.name) is not None}
            # a multi-choice answer is a set: the same topics in another order are the same answer
            ratings.append({k: frozenset(v) if task.kind == "multi" else v for k, v in given.items()})
            if len(set(ratings[-1].values())) > 1:
                report["disagreements"].append(
                    {"id": record["id"], "text": record.get("text"), "field": task.name,
                     "values": {str(k): sorted(v) if task.kind == "multi" else v for k, v in given.items()}}
                )
        report["fields"][task.name] = _field_stats(ratings)
        if task.kind == "multi":
            report["per_label"][task.name] = {
                label: _field_stats([{a: label in v for a, v in r.items()} for r in ratings])
                for label in task.label_names
            }
    return report

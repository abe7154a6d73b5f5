"""Scores predictions against gold labels: per-label P/R/F1, micro and macro per field,
the urgency confusion matrix, immediate recall/precision, provider linking, worst errors."""

from __future__ import annotations

from collections import Counter

from .data import DOMAINS, SAFEGUARDING, TOPICS, URGENCY

FIELDS = {"domains": DOMAINS, "topics": TOPICS, "safeguarding": SAFEGUARDING}


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "tp": tp, "fp": fp, "fn": fn}


def evaluate(gold: list[dict], pred: list[dict], ids: list[str] | None = None, texts: list[str] | None = None,
             worst: int = 15) -> dict:
    ids = ids or [str(i) for i in range(len(gold))]
    report: dict = {"n": len(gold), "fields": {}}
    for fld, labels in FIELDS.items():
        per = {}
        tot = Counter()
        for lab in labels:
            c = Counter()
            for g, p in zip(gold, pred):
                gs, ps = lab in g.get(fld, []), lab in p.get(fld, [])
                c["tp"] += gs and ps
                c["fp"] += ps and not gs
                c["fn"] += gs and not ps
            per[lab] = _prf(c["tp"], c["fp"], c["fn"])
            per[lab]["support"] = c["tp"] + c["fn"]
            tot.update(c)
        present = [lab for lab in labels if per[lab]["support"] or per[lab]["fp"]]
        report["fields"][fld] = {
            "labels": per,
            "micro": _prf(tot["tp"], tot["fp"], tot["fn"]),
            "macro_f1": round(sum(per[lab]["f1"] for lab in present) / max(1, len(present)), 3),
        }
    # providers: micro over (item, location) pairs
    c = Counter()
    for g, p in zip(gold, pred):
        gs, ps = set(g.get("providers", [])), set(p.get("providers", []))
        c["tp"] += len(gs & ps)
        c["fp"] += len(ps - gs)
        c["fn"] += len(gs - ps)
    report["providers"] = _prf(c["tp"], c["fp"], c["fn"])
    report["providers"]["exact_match"] = round(
        sum(set(g.get("providers", [])) == set(p.get("providers", [])) for g, p in zip(gold, pred)) / max(1, len(gold)), 3)
    # urgency
    cm = {g: {p: 0 for p in URGENCY} for g in URGENCY}
    for g, p in zip(gold, pred):
        cm[g["urgency"]][p["urgency"]] += 1
    acc = sum(cm[u][u] for u in URGENCY) / max(1, len(gold))
    per_u = {}
    for u in URGENCY:
        tp = cm[u][u]
        fp = sum(cm[g][u] for g in URGENCY if g != u)
        fn = sum(cm[u][p] for p in URGENCY if p != u)
        per_u[u] = _prf(tp, fp, fn)
        per_u[u]["support"] = tp + fn
    rank = {u: i for i, u in enumerate(URGENCY)}
    under = sum(1 for g, p in zip(gold, pred) if rank[p["urgency"]] < rank[g["urgency"]])
    report["urgency"] = {
        "accuracy": round(acc, 3), "confusion": cm, "labels": per_u,
        "macro_f1": round(sum(v["f1"] for v in per_u.values()) / len(URGENCY), 3),
        "immediate_recall": per_u["immediate"]["recall"], "immediate_precision": per_u["immediate"]["precision"],
        "under_triaged": under,
    }
    # worst errors: missed immediates first, then by how far urgency is off, then label errors
    errs = []
    for i, (g, p) in enumerate(zip(gold, pred)):
        cost = 0.0
        if g["urgency"] == "immediate" and p["urgency"] != "immediate":
            cost += 10
        cost += abs(rank[g["urgency"]] - rank[p["urgency"]]) * 1.5
        cost += len(set(g.get("providers", [])) ^ set(p.get("providers", []))) * 1.0
        for fld in FIELDS:
            cost += 0.5 * len(set(g.get(fld, [])) ^ set(p.get(fld, [])))
        if cost > 0:
            diff = {"urgency": f"{g['urgency']} -> {p['urgency']}" if g["urgency"] != p["urgency"] else ""}
            for fld in ("providers", *FIELDS):
                gs, ps = set(g.get(fld, [])), set(p.get(fld, []))
                if gs != ps:
                    diff[fld] = {"missing": sorted(gs - ps), "extra": sorted(ps - gs)}
            errs.append({"id": ids[i], "cost": round(cost, 2), "diff": diff,
                         "text": (texts[i][:160] if texts else "")})
    errs.sort(key=lambda e: -e["cost"])
    report["worst_errors"] = errs[:worst]
    report["targets"] = {
        "immediate_recall>=0.97": report["urgency"]["immediate_recall"] >= 0.97,
        "immediate_precision>=0.70": report["urgency"]["immediate_precision"] >= 0.70,
        "providers_f1>=0.95": report["providers"]["f1"] >= 0.95,
        "domains_f1>=0.85": report["fields"]["domains"]["micro"]["f1"] >= 0.85,
        "topics_f1>=0.80": report["fields"]["topics"]["micro"]["f1"] >= 0.80,
        "safeguarding_f1>=0.80": report["fields"]["safeguarding"]["micro"]["f1"] >= 0.80,
        "urgency_accuracy>=0.75": report["urgency"]["accuracy"] >= 0.75,
    }
    return report

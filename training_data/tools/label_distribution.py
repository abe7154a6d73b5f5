"""Print the label distribution of the training data as Markdown (pasted into training_data/README.md).

Usage: python training_data/tools/label_distribution.py [DATA_DIR]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from classifiers.data import DOMAINS, SAFEGUARDING, TOPICS, URGENCY, load_directory  # noqa: E402


def table(title: str, counts: Counter, order: list[str], total: int) -> str:
    lines = [f"| {title} | items | share |", "|---|---:|---:|"]
    for lab in order:
        lines.append(f"| {lab} | {counts.get(lab, 0)} | {100 * counts.get(lab, 0) / max(1, total):.1f}% |")
    return "\n".join(lines)


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "training_data"
    ex = load_directory(data_dir)
    n = len(ex)
    print(f"{n} labelled concerns from {len({e.origin for e in ex})} files "
          f"({', '.join(f'{k} {v}' for k, v in sorted(Counter(e.origin for e in ex).items()))}); "
          f"sources: {', '.join(f'{k} {v}' for k, v in sorted(Counter(e.source for e in ex).items()))}.\n")
    print(table("urgency", Counter(e.urgency for e in ex), URGENCY, n), "\n")
    print(table("domain", Counter(d for e in ex for d in e.domains), DOMAINS, n), "\n")
    print(table("topic", Counter(d for e in ex for d in e.topics), TOPICS, n), "\n")
    sg = Counter(d for e in ex for d in e.safeguarding)
    print(table("safeguarding", sg, SAFEGUARDING, n))
    print(f"\nItems with no safeguarding category: {sum(1 for e in ex if not e.safeguarding)}.")
    provs = Counter(min(len(e.providers), 3) for e in ex if e.urgency != "none")
    print(f"Concerns (urgency other than none) by number of linked locations: "
          f"0: {provs[0]}, 1: {provs[1]}, 2: {provs[2]}, 3+: {provs[3]}; "
          f"distinct locations: {len({p for e in ex for p in e.providers})}.")


if __name__ == "__main__":
    main()

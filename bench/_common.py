"""Shared set-up for the benchmarks: a store with the demo register, a model, result output."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
console = Console()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def summarise(values: list[float]) -> dict:
    return {"n": len(values), "median": statistics.median(values) if values else float("nan"),
            "p95": percentile(values, 95), "max": max(values) if values else float("nan")}


def machine() -> dict:
    return {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def write_results(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def table(title: str, columns: list[str], rows: list[list]) -> None:
    t = Table(*columns, title=title)
    for r in rows:
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r])
    console.print(t)


def ensure_model(model_dir: Path) -> Path:
    """Train into model_dir unless a model is already there (full training data, shipped config)."""
    from classifiers import current_version
    from classifiers.data import load_directory
    from classifiers.train import train

    if current_version(model_dir) is None:
        console.print(f"training a model into {model_dir} …")
        train(load_directory(ROOT / "training_data"), model_dir=model_dir)
    return model_dir

"""`triage train`, `triage classify`, `triage evaluate`: the concern classifier."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from .common import console, err_console, with_store

_in = click.Path(exists=True, dir_okay=False, path_type=Path)


def _register_index(engine):
    """The register in the store, or a clear error saying how to import it."""
    from sqlmodel import Session

    from classifiers.register_index import index_from_session

    with Session(engine) as session:
        idx = index_from_session(session)
    if not idx.locations:
        raise click.ClickException(
            "the store holds no provider register: run `triage register import --directory <cqc_directory.csv> "
            "[--ratings ... --officers ... --portfolio ...]` first")
    return idx


def _load_model(settings):
    from classifiers import load_classifier
    from triage.services import ModelMissingError

    try:
        return load_classifier(settings.model_dir)
    except ModelMissingError as err:
        raise click.ClickException(str(err)) from None


def _read_jsonl(path: Path) -> list[dict]:
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as err:
                raise click.ClickException(f"{path}:{n}: not JSON ({err.msg})") from None
            if "text" not in d or "id" not in d:
                raise click.ClickException(f"{path}:{n}: each line needs 'id' and 'text'")
            items.append(d)
    return items


@click.command()
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Training data directory (concerns/*.jsonl, council/*.csv). Default: the repo's training_data/.")
@click.option("--council-csv", "council_csvs", multiple=True, type=_in,
              help="Extra labelled history: a council intelligence-log CSV export (repeatable).")
@click.option("--no-corrections", is_flag=True, help="Leave out officers' corrections stored in the database.")
@with_store
def train(data_dir: Path | None, council_csvs: tuple[Path, ...], no_corrections: bool, *, settings, engine) -> None:
    """Train the classifier and write a versioned artefact under the model directory."""
    from sqlmodel import Session
    from tqdm import tqdm

    from classifiers.data import DataError, dedupe, load_council_csv, load_directory, load_labelled_examples
    from classifiers.register_index import index_from_session
    from classifiers.train import train as run_train

    data_dir = data_dir or settings.training_data_dir or Path(__file__).resolve().parents[2] / "training_data"
    try:
        dropped: Counter = Counter()
        examples = load_directory(data_dir, dropped)
        for path in council_csvs:
            examples.extend(load_council_csv(path, dropped))
    except DataError as err:
        raise click.ClickException(str(err)) from None
    n_corr = 0
    with Session(engine) as session:
        if not no_corrections:
            corrections = load_labelled_examples(session=session)
            n_corr = len(corrections)
            examples.extend(corrections)
        index = index_from_session(session)
    examples = dedupe(examples)
    if not index.locations:
        err_console.print("[yellow]No register in the store: home names will not be masked while training. "
                          "Run `triage register import` first for the best model.[/yellow]")
        index = None
    console.print(f"Training on {len(examples)} labelled concerns ({n_corr} officer corrections) from {data_dir}")
    if dropped:
        err_console.print(f"[yellow]Ignored labels outside the GUIDE: {dict(dropped)}[/yellow]")
    bar = tqdm(total=7, desc="training", unit="step")

    def progress(step: str, done: int) -> None:
        bar.set_description(step)
        bar.n = done
        bar.refresh()

    result = run_train(examples, model_dir=settings.model_dir, index=index, progress=progress)
    bar.close()
    m = result.metrics
    table = Table("metric (cross-validated on the training data)", "value", title=f"Model {result.version}")
    table.add_row("urgency accuracy", f"{m['urgency']['accuracy']:.3f}")
    table.add_row("immediate recall / precision",
                  f"{m['urgency']['immediate_recall']:.3f} / {m['urgency']['immediate_precision']:.3f}")
    for fld in ("domains", "topics", "safeguarding"):
        table.add_row(f"{fld} micro-F1", f"{m[fld]['micro_f1']:.3f}")
    console.print(table)
    console.print(f"Written to {result.path} (current)")


@click.command()
@click.option("--in", "in_path", required=True, type=_in, help="JSONL: id, text [, subject, sender, source, channel].")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch-size", default=256, show_default=True)
@with_store
def classify(in_path: Path, out_path: Path, batch_size: int, *, settings, engine) -> None:
    """Classify concerns from a JSONL file against the register in the store."""
    clf = _load_model(settings)
    index = _register_index(engine)
    items = _read_jsonl(in_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    with open(out_path, "w", encoding="utf-8") as fh:
        for i in range(0, len(items), batch_size):
            chunk = items[i:i + batch_size]
            results = clf.classify_batch(
                [{"text": d["text"], "subject": d.get("subject"), "sender": d.get("sender")} for d in chunk],
                register=index)
            for d, r in zip(chunk, results):
                out = {"id": d["id"], **r.to_dict()}
                counts[out["urgency"]] += 1
                fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    console.print(f"Classified {len(items)} concerns into {out_path}: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@click.command()
@click.option("--gold", "gold_path", required=True, type=_in, help="JSONL with a 'gold' object per line.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--worst", default=15, show_default=True, help="How many of the worst errors to list.")
@with_store
def evaluate(gold_path: Path, as_json: bool, worst: int, *, settings, engine) -> None:
    """Score the trained classifier against a labelled JSONL file."""
    from classifiers.evaluate import evaluate as score

    clf = _load_model(settings)
    index = _register_index(engine)
    items = _read_jsonl(gold_path)
    if any("gold" not in d for d in items):
        raise click.ClickException(f"{gold_path}: every line needs a 'gold' object")
    results = clf.classify_batch(
        [{"text": d["text"], "subject": d.get("subject"), "sender": d.get("sender")} for d in items], register=index)
    pred = [r.to_dict() for r in results]
    report = score([d["gold"] for d in items], pred, ids=[str(d["id"]) for d in items],
                   texts=[d["text"] for d in items], worst=worst)
    report["model_version"] = clf.version
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print_report(report)


def _print_report(report: dict) -> None:
    u = report["urgency"]
    head = Table("metric", "value", "target", title=f"Evaluation of {report['model_version']} on {report['n']} concerns")
    rows = [
        ("immediate recall", u["immediate_recall"], ">= 0.97"),
        ("immediate precision", u["immediate_precision"], ">= 0.70"),
        ("urgency accuracy", u["accuracy"], ">= 0.75"),
        ("provider linking F1", report["providers"]["f1"], ">= 0.95"),
        ("provider linking P / R", f"{report['providers']['precision']:.3f} / {report['providers']['recall']:.3f}", ""),
        ("domains micro-F1", report["fields"]["domains"]["micro"]["f1"], ">= 0.85"),
        ("topics micro-F1", report["fields"]["topics"]["micro"]["f1"], ">= 0.80"),
        ("safeguarding micro-F1", report["fields"]["safeguarding"]["micro"]["f1"], ">= 0.80"),
    ]
    for name, val, target in rows:
        head.add_row(name, f"{val:.3f}" if isinstance(val, float) else str(val), target)
    console.print(head)

    for fld, data in report["fields"].items():
        t = Table("label", "P", "R", "F1", "support",
                  title=f"{fld}: micro P/R/F1 {data['micro']['precision']:.3f}/{data['micro']['recall']:.3f}/"
                        f"{data['micro']['f1']:.3f}, macro-F1 {data['macro_f1']:.3f}")
        for lab, v in data["labels"].items():
            t.add_row(lab, f"{v['precision']:.2f}", f"{v['recall']:.2f}", f"{v['f1']:.2f}", str(v["support"]))
        console.print(t)

    cm = Table("gold \\ predicted", *u["confusion"].keys(), title=f"Urgency (accuracy {u['accuracy']:.3f}, "
                                                                  f"macro-F1 {u['macro_f1']:.3f})")
    for g, row in u["confusion"].items():
        cm.add_row(g, *[str(v) for v in row.values()])
    console.print(cm)
    ul = Table("urgency", "P", "R", "F1", "support")
    for lab, v in u["labels"].items():
        ul.add_row(lab, f"{v['precision']:.2f}", f"{v['recall']:.2f}", f"{v['f1']:.2f}", str(v["support"]))
    console.print(ul)

    w = Table("id", "cost", "what went wrong", title="Worst errors")
    for e in report["worst_errors"]:
        parts = []
        for k, v in e["diff"].items():
            if not v:
                continue
            if isinstance(v, str):
                parts.append(f"urgency {v}")
            else:
                if v["missing"]:
                    parts.append(f"{k} missing {', '.join(v['missing'])}")
                if v["extra"]:
                    parts.append(f"{k} extra {', '.join(v['extra'])}")
        w.add_row(e["id"], str(e["cost"]), "; ".join(parts))
    console.print(w)

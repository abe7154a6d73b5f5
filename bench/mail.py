"""Mail ingestion speed against a real Dovecot on loopback.

1. Throughput: N messages appended, then one `run_once` drains them; messages/s from the
   first APPEND to the last concern stored (and for the drain alone).
2. Latency with IDLE: `run_forever` idles; one message is appended at a time and the time
   from the APPEND returning to its concern being in the store is measured (median, p95).

Uses the trained classifier under TRIAGE_MODEL_DIR / var/classifier when there is one
(the JSON says which). Writes a table to stdout and bench/results/mail.json.

    .venv/bin/python bench/mail.py [--messages 200] [--samples 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "mail_fixtures"))

from sqlmodel import Session, func, select  # noqa: E402

from dovecot import DovecotServer  # noqa: E402
from models import Concern  # noqa: E402
from triage.config import load_settings  # noqa: E402
from triage.db import make_engine, migrate  # noqa: E402
from triage.services import Services  # noqa: E402

HOMES = ["Brookvale House", "Sunrise Court", "The Willows", "Abbey Lodge", "Pershore Manor", "Wyvern Lodge",
         "Hills View", "Kingfisher Lodge", "Meadow View", "Cedars & Pines"]
ISSUES = ["call bells not answered for over twenty minutes at night", "medication missed twice this week",
          "resident found on the floor and family not told until the afternoon",
          "laundry going missing and residents in other people's clothes",
          "only two carers on nights for forty residents", "unexplained bruising on both forearms",
          "food served cold and residents losing weight", "fire door wedged open on the first floor"]


def message(i: int) -> bytes:
    home, issue = HOMES[i % len(HOMES)], ISSUES[(i * 7) % len(ISSUES)]
    body = (f"Hello QA team,\r\n\r\nA relative told me today (visit {i}) that at {home} there has been {issue}. "
            f"She has raised it with the manager (ref {i:05d}) but nothing has changed.\r\n\r\n"
            "Kind regards\r\nSam Patel\r\nReview Officer\r\n")
    return (f"From: Sam Patel <sam.patel@wyvernshire.example.org>\r\nTo: qa@wyvernshire.example.org\r\n"
            f"Subject: Concern {i} - {home}\r\nMessage-ID: <bench.{i}.{time.time_ns()}@wyvernshire.example.org>\r\n"
            f"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


def classifier_for(settings):
    try:
        from classifiers import load_classifier

        return load_classifier(settings.model_dir), "trained"
    except Exception:
        from support import StandInClassifier

        return StandInClassifier(), "stand-in (no trained model found; run `triage train` first)"


def build(server: DovecotServer, tmp: Path, register: Path):
    url = f"sqlite:///{tmp}/bench.db"
    migrate(url)
    model_dir = Path(os.environ.get("TRIAGE_MODEL_DIR", REPO / "var" / "classifier"))
    settings = load_settings(database_url=url, data_dir=tmp, model_dir=model_dir, imap_host=server.host,
                             imap_port=server.port, imap_user=server.user, imap_password=server.password,
                             imap_tls=False, imap_idle_seconds=60, imap_max_backoff_seconds=1)
    engine = make_engine(url)
    from support import load_register

    load_register(engine, register)
    services = Services(settings=settings, engine=engine)
    clf, kind = classifier_for(settings)
    services.set_classifier(clf)
    return services, kind


def concerns(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Concern)).one()


def throughput(server, services, n: int) -> dict:
    from mail_ingest.job import run_once

    raws = [message(i) for i in range(n)]
    t0 = time.perf_counter()
    server.append_many("INBOX", raws)
    t1 = time.perf_counter()
    summary = run_once(services)
    t2 = time.perf_counter()
    assert summary.stored == n, summary
    return {"messages": n, "append_seconds": round(t1 - t0, 3), "drain_seconds": round(t2 - t1, 3),
            "append_to_stored_msgs_per_s": round(n / (t2 - t0), 1), "drain_msgs_per_s": round(n / (t2 - t1), 1)}


def latency(server, services, samples: int) -> dict:
    from mail_ingest.job import run_forever

    stop, drained = threading.Event(), threading.Event()
    t = threading.Thread(target=run_forever, args=(services, stop), kwargs={"on_drained": lambda s: drained.set()},
                         daemon=True)
    t.start()
    drained.wait(30)
    base = concerns(services.engine)
    out: list[float] = []
    try:
        for i in range(samples):
            time.sleep(0.2)  # let the reader go back into IDLE
            raw = message(100_000 + i)
            server.append("INBOX", raw)
            t0 = time.perf_counter()
            deadline = t0 + 60
            while concerns(services.engine) < base + i + 1:
                if time.perf_counter() > deadline:
                    raise RuntimeError("message not stored within 60 s")
                time.sleep(0.002)
            out.append(time.perf_counter() - t0)
    finally:
        stop.set()
        t.join(30)
    out.sort()
    p95 = out[min(len(out) - 1, int(round(0.95 * (len(out) - 1))))]
    return {"samples": samples, "median_ms": round(statistics.median(out) * 1000, 1), "p95_ms": round(p95 * 1000, 1),
            "min_ms": round(out[0] * 1000, 1), "max_ms": round(out[-1] * 1000, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "mail.json")
    args = ap.parse_args()

    shared = REPO.parent / "shared" / "register"
    register = shared if (shared / "cqc_directory.csv").is_file() else REPO / "triage" / "demo_data" / "register"
    server = DovecotServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            services, kind = build(server, Path(tmp), register)
            tp = throughput(server, services, args.messages)
            lat = latency(server, services, args.samples)
            services.engine.dispose()
    finally:
        server.cleanup()

    result = {"benchmark": "mail", "classifier": kind, "store": "sqlite", "imap": "dovecot (loopback, plain)",
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
              "throughput": tp, "idle_latency": lat}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    from rich.console import Console
    from rich.table import Table

    table = Table("measure", "value", title=f"Mail ingest ({kind})")
    table.add_row("messages appended then drained", str(tp["messages"]))
    table.add_row("append → stored, msgs/s", str(tp["append_to_stored_msgs_per_s"]))
    table.add_row("drain only, msgs/s", str(tp["drain_msgs_per_s"]))
    table.add_row("APPEND → stored with IDLE, median", f"{lat['median_ms']} ms")
    table.add_row("APPEND → stored with IDLE, p95", f"{lat['p95_ms']} ms")
    table.add_row("APPEND → stored with IDLE, max", f"{lat['max_ms']} ms ({lat['samples']} samples)")
    Console().print(table)
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()

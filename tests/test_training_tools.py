"""The training-data tools: the audit is applied once, to topics and domains only, and check_batch
refuses a concern without a topic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "training_data" / "tools"


def _item(id_, urgency, topics, domains, safeguarding=()):
    return {"id": id_, "source": "slack", "channel": "#qa-alerts", "text": f"text {id_}",
            "gold": {"providers": [], "domains": list(domains), "topics": list(topics),
                     "safeguarding": list(safeguarding), "urgency": urgency}}


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / script), *args], capture_output=True, text=True)


def test_apply_audit_changes_topics_and_domains_once(tmp_path):
    data, audit = tmp_path / "concerns", tmp_path / "audit"
    data.mkdir(), audit.mkdir()
    items = [_item("X1", "immediate", [], ["safe"], ["physical"]), _item("X2", "none", [], [])]
    (data / "x.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    changes = [{"id": "X1", "topics": ["staffing", "dignity_respect"], "domains": ["caring", "safe"], "why": "w"},
               {"id": "X2", "topics": ["falls"], "domains": ["safe"], "why": "none items are left alone"}]
    (audit / "x.changes.jsonl").write_text("\n".join(json.dumps(c) for c in changes) + "\n")

    first = _run("apply_audit.py", "--audit", str(audit), "--data", str(data))
    assert first.returncode == 0, first.stderr
    assert "1 item(s) relabelled" in first.stdout
    out = [json.loads(line) for line in (data / "x.jsonl").read_text().splitlines()]
    # Written in the GUIDE's order; urgency and safeguarding untouched; the none item unchanged.
    assert out[0]["gold"]["topics"] == ["staffing", "dignity_respect"]
    assert out[0]["gold"]["domains"] == ["safe", "caring"]
    assert out[0]["gold"]["safeguarding"] == ["physical"] and out[0]["gold"]["urgency"] == "immediate"
    assert out[1] == items[1]

    again = _run("apply_audit.py", "--audit", str(audit), "--data", str(data))
    assert "0 item(s) relabelled" in again.stdout and "added:   nothing" in again.stdout


def test_apply_audit_refuses_unknown_labels(tmp_path):
    data, audit = tmp_path / "concerns", tmp_path / "audit"
    data.mkdir(), audit.mkdir()
    (data / "x.jsonl").write_text(json.dumps(_item("X1", "high", ["falls"], ["safe"])) + "\n")
    (audit / "x.changes.jsonl").write_text(json.dumps({"id": "X1", "topics": ["fallz"], "domains": ["safe"]}) + "\n")
    res = _run("apply_audit.py", "--audit", str(audit), "--data", str(data))
    assert res.returncode != 0 and "fallz" in (res.stdout + res.stderr)
    assert json.loads((data / "x.jsonl").read_text())["gold"]["topics"] == ["falls"]


def test_check_batch_requires_a_topic_on_every_concern(tmp_path):
    register = tmp_path / "register.csv"
    register.write_text("Care Quality Commission directory\nName,CQC Location (for office use only)\nOak House,1-1\n")
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(_item("X1", "high", ["falls"], ["safe"])) + "\n")
    assert _run("check_batch.py", str(path), "--register", str(register)).returncode == 0
    path.write_text(json.dumps(_item("X1", "high", [], ["safe"])) + "\n")
    res = _run("check_batch.py", str(path), "--register", str(register))
    assert res.returncode == 1
    assert "needs at least one topic" in res.stdout + res.stderr

"""`triage demo` (what `make demo` runs) works end to end without any account."""

from __future__ import annotations

import pytest
from rich.console import Console

from dovecot import dovecot_reason
from triage.demo import run_demo

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]


def test_demo_shows_the_whole_path(settings_factory, trained_model_dir, tmp_path):
    if dovecot_reason():
        pytest.skip(dovecot_reason())
    console = Console(record=True, width=200)
    result = run_demo(base=settings_factory(model_dir=trained_model_dir, http_port=0), wait=False, console=console,
                      timeout=120)
    out = console.export_text()
    # 10 demo items: 9 concerns (6 emails less one out-of-office, 4 Slack posts), the auto-reply skipped.
    assert result["concerns"] == 9
    assert "auto_reply" in out
    assert result["alerts"] >= 4 and result["emails_sent"] >= 4
    assert result["risk_changed"] >= 3
    assert "Larch House" in out and "Who was alerted" in out and "Risk matrix" in out

"""The `triage` command. Sub-commands load lazily so `triage --help` stays fast."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

# name -> "module:attribute"; each module owns one area of the product.
COMMANDS = {
    "db": "triage.cli.db:db",
    "register": "triage.cli.register:register",
    "train": "triage.cli.classify:train",
    "classify": "triage.cli.classify:classify",
    "evaluate": "triage.cli.classify:evaluate",
    "ingest": "triage.cli.ingest:ingest",
    "quarantine": "triage.cli.ingest:quarantine",
    "risk": "triage.cli.risk:risk",
    "report": "triage.cli.report:report",
    "alerts": "triage.cli.risk:alerts",
    "slack": "triage.cli.slack:slack",
    "serve": "triage.cli.serve:serve",
    "demo": "triage.cli.demo:demo",
    "audit": "triage.cli.db:audit",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(n for n, t in COMMANDS.items() if importlib.util.find_spec(t.split(":")[0]) is not None)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="care-concern-triage")
def main() -> None:
    """Care Concern Triage: soft intelligence about care providers, triaged and routed."""


def run() -> None:  # pragma: no cover
    sys.exit(main())

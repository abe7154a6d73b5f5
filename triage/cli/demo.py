"""`triage demo`."""

from __future__ import annotations

import click

from .common import console, load_settings_or_exit


@click.command()
@click.option("--no-wait", is_flag=True, help="Show what happened and exit instead of leaving the service running.")
def demo(no_wait: bool) -> None:
    """Run the whole path locally: demo register, mailbox, Slack stand-in, alerts, risk matrix."""
    from classifiers import current_version
    from triage.demo import run_demo

    settings = load_settings_or_exit()
    if current_version(settings.model_dir) is None:
        console.print(f"No trained classifier under {settings.model_dir}: training one now (about eight minutes on two cores).")
        from triage.cli.classify import train

        train.main(args=[], standalone_mode=False)
    try:
        run_demo(base=settings, wait=not no_wait, console=console)
    except RuntimeError as err:
        raise click.ClickException(str(err)) from None

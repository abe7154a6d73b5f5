"""Care Concern Triage: core package (configuration, pipeline, jobs, CLI)."""

__version__ = "0.1.0"

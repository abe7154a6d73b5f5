"""Provider risk: scoring, roll-up, early warning, routing, alerts, escalation, digests, reports.

Entry point for the pipeline: `triage.risk.service.on_concern_changed`.
"""

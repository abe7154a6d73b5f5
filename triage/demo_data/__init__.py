"""Fictional Severnshire demo data shipped with Care Concern Triage (register files and demo concerns)."""

"""The label vocabulary the modals offer, and how each label reads to an officer.

Taken from the classifier package when it publishes one, so a new topic there shows up in
the correction modal without a bot change; the lists below are the training data's labels.
"""

from __future__ import annotations

URGENCIES = ("immediate", "high", "medium", "low", "none")
DOMAINS = ("safe", "effective", "caring", "responsive", "well-led")
TOPICS = (
    "activities_wellbeing", "care_planning_records", "complaints_communication", "dignity_respect",
    "end_of_life", "falls", "financial_viability", "health_access", "infection_control",
    "leadership_governance", "mca_dols", "medication", "nutrition_hydration", "premises_equipment",
    "pressure_care", "staffing", "training_competence",
)
SAFEGUARDING = (
    "discriminatory", "domestic", "financial", "modern_slavery", "neglect", "organisational",
    "physical", "psychological", "sexual",
)

try:  # pragma: no cover - depends on the classifier package's progress
    from classifiers import labels as _labels  # type: ignore

    DOMAINS = tuple(getattr(_labels, "DOMAINS", DOMAINS))
    TOPICS = tuple(getattr(_labels, "TOPICS", TOPICS))
    SAFEGUARDING = tuple(getattr(_labels, "SAFEGUARDING", SAFEGUARDING))
except Exception:
    pass

_SPECIAL = {"mca_dols": "MCA / DoLS", "well-led": "Well-led", "end_of_life": "End of life",
            "none": "None", "care_planning_records": "Care planning & records",
            "complaints_communication": "Complaints & communication", "nutrition_hydration": "Nutrition & hydration",
            "premises_equipment": "Premises & equipment", "training_competence": "Training & competence",
            "leadership_governance": "Leadership & governance", "dignity_respect": "Dignity & respect",
            "activities_wellbeing": "Activities & wellbeing", "overall": "Overall"}


def label(value: str) -> str:
    """How a label reads in Slack: "pressure_care" → "Pressure care"."""
    if value in _SPECIAL:
        return _SPECIAL[value]
    return value.replace("_", " ").capitalize()

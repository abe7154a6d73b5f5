"""The Quality Board report: the risk matrix, 12-week trends, top factors, suggested visits.

Self-contained HTML (inline CSS and SVG, nothing fetched) or CSV.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import RiskAssessment
from triage import clock
from triage.config import Settings

from .matrix import matrix_rows
from .rollup import organisations
from .scoring import rating_rank

WEEKS = 12
COLOURS = {"red": "#c62828", "amber": "#ef8f00", "green": "#2e7d32"}


def weekly_trend(*, session: Session, location_id: str, now: datetime, current: float) -> list[float]:
    """Score at the end of each of the last 12 weeks (oldest first); the last point is now."""
    rows = session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.computed_at <= now)
                        .order_by(RiskAssessment.computed_at, RiskAssessment.id)).all()
    out = []
    for i in range(WEEKS - 1, 0, -1):
        when = now - timedelta(weeks=i)
        before = [r for r in rows if r.computed_at <= when]
        out.append(before[-1].score if before else 0.0)
    out.append(current)
    return out


def crossings(*, session: Session, location_id: str, since: datetime) -> list[RiskAssessment]:
    rows = session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.computed_at >= since)
                        .order_by(RiskAssessment.computed_at, RiskAssessment.id)).all()
    return [r for r in rows if rating_rank(r.rating) > rating_rank(r.previous_rating or "green")]


def build(*, session: Session, settings: Settings, now: datetime | None = None) -> dict:
    now = now or clock.now()
    since = now - timedelta(weeks=WEEKS)
    rows = matrix_rows(session=session, settings=settings, now=now)
    for r in rows:
        r["trend"] = weekly_trend(session=session, location_id=r["location_id"], now=now, current=r["score"])
        crossed = crossings(session=session, location_id=r["location_id"], since=since)
        reasons = [f"{c.computed_at.date().isoformat()}: {c.previous_rating or 'green'} → {c.rating} "
                   f"({c.score:.0f}) after {c.reason}" for c in crossed]
        if r["rating"] != "green" and (crossed or r["rating"] == "red"):
            if not crossed:
                reasons.append(f"rated red ({r['score']:.0f})")
            reasons += [f"{f['name']}: {f['why']}" for f in r["top_factors"][:2]]
            r["visit_reasons"] = reasons
        else:
            r["visit_reasons"] = []
        r["suggested_visit"] = bool(r["visit_reasons"])
    return {"generated_at": now, "rows": rows, "organisations": organisations(session=session, settings=settings),
            "thresholds": (settings.risk_amber_threshold, settings.risk_red_threshold)}


def sparkline(values: list[float], *, amber: float, red: float, width: int = 132, height: int = 30) -> str:
    top = max([*values, red * 1.2, 1.0])
    step = width / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return round(height - 2 - (v / top) * (height - 4), 1)

    pts = " ".join(f"{round(i * step, 1)},{y(v)}" for i, v in enumerate(values))
    colour = COLOURS[rating_for_values(values[-1], amber, red)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="12-week trend">'
            f'<line x1="0" x2="{width}" y1="{y(red)}" y2="{y(red)}" stroke="{COLOURS["red"]}" '
            f'stroke-dasharray="2,2" stroke-width="0.6"/>'
            f'<line x1="0" x2="{width}" y1="{y(amber)}" y2="{y(amber)}" stroke="{COLOURS["amber"]}" '
            f'stroke-dasharray="2,2" stroke-width="0.6"/>'
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{pts}"/>'
            f'<circle cx="{round((len(values) - 1) * step, 1)}" cy="{y(values[-1])}" r="2.2" fill="{colour}"/></svg>')


def rating_for_values(v: float, amber: float, red: float) -> str:
    return "red" if v >= red else "amber" if v >= amber else "green"


def to_html(report: dict) -> str:
    e = html.escape
    amber, red = report["thresholds"]
    rows = report["rows"]
    counts = {k: sum(r["rating"] == k for r in rows) for k in ("red", "amber", "green")}
    body = []
    for r in rows:
        factors = "".join(f"<li>{e(f['name'])} <b>{f['points']:g}</b></li>" for f in r["top_factors"]) or "<li>—</li>"
        flags = "".join(f"<div class='flag'>⚑ {e(f['why'])}</div>" for f in r["flags"])
        body.append(
            f"<tr><td><span class='pill {r['rating']}'>{r['rating'].upper()}</span></td>"
            f"<td class='num'>{r['score']:.1f}</td><td><b>{e(r['name'])}</b><br><small>{e(r['location_id'])} · "
            f"{e(r['provider'])}</small>{flags}</td><td>{e(r['cqc_overall'] or 'Not rated')}</td>"
            f"<td>{sparkline(r['trend'], amber=amber, red=red)}</td><td><ul>{factors}</ul></td>"
            f"<td class='num'>{r['open_concerns']}</td><td>{e(r['officer'] or r['officer_id'])}</td></tr>")
    visits = [r for r in rows if r["suggested_visit"]]
    vis = "".join(f"<li><b>{e(r['name'])}</b> ({r['rating']}, {r['score']:.0f})<ul>" +
                  "".join(f"<li>{e(x)}</li>" for x in r["visit_reasons"]) + "</ul></li>" for r in visits) \
        or "<li>None this period.</li>"
    orgs = "".join(f"<tr><td>{e(o['name'])}</td><td>{o['locations']}</td><td><span class='pill {o['worst_rating']}'>"
                   f"{o['worst_rating'].upper()}</span></td><td>{o['red']}</td><td>{o['amber']}</td>"
                   f"<td class='num'>{o['max_score']:.1f}</td><td class='num'>{o['open_concerns']}</td></tr>"
                   for o in report["organisations"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Quality Board risk matrix</title>
<style>
body{{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;width:100%;margin-bottom:24px}}
th,td{{border-bottom:1px solid #ddd;padding:6px 8px;vertical-align:top;text-align:left;font-size:14px}}
th{{background:#f3f3f3}} .num{{text-align:right}} ul{{margin:0;padding-left:16px}}
.pill{{color:#fff;border-radius:10px;padding:2px 8px;font-weight:600;font-size:12px}}
.red{{background:{COLOURS['red']}}} .amber{{background:{COLOURS['amber']}}} .green{{background:{COLOURS['green']}}}
.flag{{color:{COLOURS['red']};font-size:12px}}
</style></head><body>
<h1>Provider risk matrix for the Quality Board</h1>
<p>Generated {e(report['generated_at'].strftime('%d %B %Y %H:%M UTC'))}. {len(rows)} homes:
<b>{counts['red']}</b> red, <b>{counts['amber']}</b> amber, <b>{counts['green']}</b> green
(amber from {amber:g}, red from {red:g} points; trend shows the last 12 weeks).</p>
<h2>Suggested monitoring visits</h2><ul>{vis}</ul>
<h2>Risk matrix</h2>
<table><thead><tr><th>Rating</th><th>Score</th><th>Home</th><th>CQC</th><th>Trend (12 weeks)</th>
<th>Top factors</th><th>Open concerns</th><th>Officer</th></tr></thead><tbody>
{''.join(body)}
</tbody></table>
<h2>Provider organisations with more than one home</h2>
<table><thead><tr><th>Provider</th><th>Homes</th><th>Worst</th><th>Red</th><th>Amber</th><th>Highest score</th>
<th>Open concerns</th></tr></thead><tbody>{orgs}</tbody></table>
</body></html>
"""


CSV_FIELDS = ["location_id", "name", "provider", "officer_id", "rating", "score", "cqc_overall", "open_concerns",
              "trend_12_weeks", "top_factors", "flags", "suggested_visit", "visit_reasons"]


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    w.writeheader()
    for r in report["rows"]:
        w.writerow({
            "location_id": r["location_id"], "name": r["name"], "provider": r["provider"],
            "officer_id": r["officer_id"], "rating": r["rating"], "score": f"{r['score']:.1f}",
            "cqc_overall": r["cqc_overall"] or "", "open_concerns": r["open_concerns"],
            "trend_12_weeks": " ".join(f"{v:.0f}" for v in r["trend"]),
            "top_factors": "; ".join(f"{f['name']} ({f['points']:g})" for f in r["top_factors"]),
            "flags": "; ".join(f["why"] for f in r["flags"]),
            "suggested_visit": "yes" if r["suggested_visit"] else "no",
            "visit_reasons": " | ".join(r["visit_reasons"]),
        })
    return buf.getvalue()

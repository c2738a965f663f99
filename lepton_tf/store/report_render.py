"""The operator's report (`report.build_report`) as terminal text or as an HTML page."""

from __future__ import annotations

import html
import textwrap

from lepton_tf.store.report_charts import latency_chart, turns_per_day_chart


def _rate(report: dict) -> str:
    nf = report["not_found"]
    return f"{nf['rate']:.1%} ({nf['turns']} of {nf['searches']} searches)"


def to_text(report: dict) -> str:
    """The report for a terminal."""
    lines = [f"Conversations {report['period']['since']} .. {report['period']['until']}: "
             f"{report['turns']} turns in {report['sessions']} sessions; ratings "
             f"{report['ratings']['up']} up, {report['ratings']['down']} down",
             "", "Turns per day:"]
    routes = list(report["per_route"])
    lines.append("  day         " + " ".join(f"{r:>12}" for r in routes))
    for day, counts in report["per_day"].items():
        lines.append(f"  {day}  " + " ".join(f"{counts.get(r, 0):>12}" for r in routes))
    lines.append("  total       " + " ".join(f"{report['per_route'][r]:>12}" for r in routes))
    lines += ["", f"Not found: {_rate(report)}", "",
              f"Unanswered questions ({report['unanswered_total']}, grouped by "
              f"{report['grouped_by']}, biggest first):"]
    for group in report["unanswered"]:
        others = f" (+ {len(group['questions']) - 1} phrasings)" \
            if len(group["questions"]) > 1 else ""
        lines.append(f"  {group['count']:>4}  {group['example']}{others}")
    lines += ["", "Worst-rated answers:"]
    for turn in report["worst_rated"]:
        lines.append(f"  -{turn['down']} +{turn['up']}  {turn['message']}")
        lines.append("        " + textwrap.shorten(turn["reply"], 100))
        for s in turn["sources"]:
            lines.append(f"        [{s['n']}] {s['title']} ({s['doc_id']}, {s['score']:.3f})")
        for comment in turn["comments"]:
            lines.append(f"        comment: {comment}")
    lines += ["", "Latency (ms):"]
    for route, q in report["latency_ms"].items():
        lines.append(f"  {route:<14}" + "  ".join(f"{k} {v:g}" for k, v in q.items()))
    lines += ["", "Feedback per document (most down first):"]
    for d in report["documents"]:
        lines.append(f"  {d['doc_id']:<20} +{d['up']} -{d['down']}  {d['title']}")
    return "\n".join(lines) + "\n"


def _e(value) -> str:
    return html.escape(str(value))


def to_html(report: dict) -> str:
    """The report as one self-contained HTML page (charts inline as SVG)."""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<title>lepton-tf conversations report</title><style>",
             "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}",
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;",
             "padding:.2em .5em;text-align:left;vertical-align:top}.n{text-align:right}",
             "</style></head><body>",
             f"<h1>Conversations {_e(report['period']['since'])} .. "
             f"{_e(report['period']['until'])}</h1>",
             f"<p>{report['turns']} turns in {report['sessions']} sessions; ratings "
             f"{report['ratings']['up']} up, {report['ratings']['down']} down. "
             f"Not found: <b id='not-found-rate'>{_e(_rate(report))}</b>.</p>"]
    if report["per_day"]:
        parts += ["<h2>Turns per day</h2>", turns_per_day_chart(report["per_day"])]
    routes = list(report["per_route"])
    parts.append("<table id='per-day'><tr><th>day</th>" +
                 "".join(f"<th>{_e(r)}</th>" for r in routes) + "</tr>")
    for day, counts in report["per_day"].items():
        parts.append(f"<tr><td>{_e(day)}</td>" + "".join(
            f"<td class='n'>{counts.get(r, 0)}</td>" for r in routes) + "</tr>")
    parts.append("</table>")
    parts.append(f"<h2>Unanswered questions</h2><p>{report['unanswered_total']} unanswered, "
                 f"grouped by {_e(report['grouped_by'])}, biggest group first.</p>"
                 "<table id='unanswered'><tr><th>count</th><th>question</th>"
                 "<th>other phrasings</th></tr>")
    for g in report["unanswered"]:
        parts.append(f"<tr><td class='n'>{g['count']}</td><td>{_e(g['example'])}</td><td>"
                     + "<br>".join(_e(q) for q in g["questions"][1:6]) + "</td></tr>")
    parts.append("</table><h2>Worst-rated answers</h2><table id='worst'><tr><th>down/up</th>"
                 "<th>question</th><th>answer</th><th>sources</th><th>comments</th></tr>")
    for t in report["worst_rated"]:
        sources = "<br>".join(f"[{s['n']}] {_e(s['title'])} ({_e(s['doc_id'])}, "
                              f"{s['score']:.3f})" for s in t["sources"])
        parts.append(f"<tr><td class='n'>{t['down']}/{t['up']}</td><td>{_e(t['message'])}</td>"
                     f"<td>{_e(t['reply'])}</td><td>{sources}</td><td>"
                     + "<br>".join(_e(c) for c in t["comments"]) + "</td></tr>")
    parts.append("</table><h2>Latency</h2>")
    if report["latency_ms"].get("all"):
        parts.append(latency_chart(report["latency_ms"]))
    parts.append("<table id='latency'><tr><th>route</th>" + "".join(
        f"<th>{q} ms</th>" for q in next(iter(report["latency_ms"].values()), {})) + "</tr>")
    for route, q in report["latency_ms"].items():
        parts.append(f"<tr><td>{_e(route)}</td>" + "".join(
            f"<td class='n'>{v:g}</td>" for v in q.values()) + "</tr>")
    parts.append("</table><h2>Feedback per document</h2><table id='documents'><tr><th>"
                 "document</th><th>title</th><th>up</th><th>down</th></tr>")
    for d in report["documents"]:
        parts.append(f"<tr><td>{_e(d['doc_id'])}</td><td>{_e(d['title'])}</td>"
                     f"<td class='n'>{d['up']}</td><td class='n'>{d['down']}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)

"""The report's charts as inline SVG (matplotlib, no display, thread-safe:
a `Figure` of its own per chart rather than pyplot's global state)."""

from __future__ import annotations

import io


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: it is inlined in HTML


def turns_per_day_chart(per_day: dict) -> str:
    """Stacked bars: turns per day, one colour per route."""
    from matplotlib.figure import Figure

    days = list(per_day)
    routes = sorted({r for counts in per_day.values() for r in counts})
    figure = Figure(figsize=(7, 2.8))
    axes = figure.add_subplot()
    bottom = [0] * len(days)
    for route in routes:
        heights = [per_day[d].get(route, 0) for d in days]
        axes.bar(days, heights, bottom=bottom, label=route)
        bottom = [b + h for b, h in zip(bottom, heights)]
    axes.set_ylabel("turns")
    axes.set_title("Turns per day, by route")
    axes.legend(fontsize=8, loc="upper left")
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    return _svg(figure)


def latency_chart(latency_ms: dict) -> str:
    """Grouped bars: latency percentiles (ms) per route."""
    from matplotlib.figure import Figure

    routes = [r for r in latency_ms if latency_ms[r]]
    quantiles = list(next(iter(latency_ms.values())).keys()) if routes else []
    figure = Figure(figsize=(7, 2.8))
    axes = figure.add_subplot()
    width = 0.8 / max(len(quantiles), 1)
    for i, q in enumerate(quantiles):
        axes.bar([x + i * width for x in range(len(routes))],
                 [latency_ms[r][q] for r in routes], width, label=q)
    axes.set_xticks([x + width * (len(quantiles) - 1) / 2 for x in range(len(routes))], routes)
    axes.set_ylabel("ms")
    axes.set_title("Turn latency percentiles, by route")
    axes.legend(fontsize=8)
    return _svg(figure)

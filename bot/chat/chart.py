"""The digest's chart: mentions in per day and the median time to first response, as a PNG.

Built on matplotlib's object API with the Agg canvas (no pyplot, no global state, no
display), so it is safe in a worker thread; callers render it off the event loop.
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.domain.digest import DayPoint

WIDTH_INCHES = 8.0
HEIGHT_INCHES = 4.0
DPI = 100  # 800 × 400 pixels
VOLUME_LABEL = "mentions in"
RESPONSE_LABEL = "median first response (minutes)"
_BARS = "#4c78a8"
_LINE = "#e45756"


def build_chart(days: tuple[DayPoint, ...], *, title: str, zone: str) -> Figure:
    """A bar per day for mentions in, and a line for the median minutes to first response."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    volume = figure.add_subplot()
    positions = list(range(len(days)))
    counts = [point.mentions_in for point in days]
    volume.bar(positions, counts, color=_BARS, width=0.6, label=VOLUME_LABEL)
    volume.set_xticks(positions, [f"{p.day:%a} {p.day.day} {p.day:%b}" for p in days])
    volume.set_xlabel(f"day ({zone})")
    volume.set_ylabel(VOLUME_LABEL, color=_BARS)
    volume.yaxis.set_major_locator(MaxNLocator(integer=True))
    volume.set_ylim(0, max([*counts, 1]) * 1.15)
    volume.set_title(title, fontsize=11)

    speed = volume.twinx()
    minutes = [
        p.median_first_response.total_seconds() / 60
        if p.median_first_response is not None
        else math.nan
        for p in days
    ]
    speed.plot(positions, minutes, color=_LINE, marker="o", linewidth=2, label=RESPONSE_LABEL)
    speed.set_ylabel(RESPONSE_LABEL, color=_LINE)
    known = [m for m in minutes if not math.isnan(m)]
    speed.set_ylim(0, max([*known, 1.0]) * 1.15)
    for x, m in zip(positions, minutes, strict=True):
        if not math.isnan(m):
            speed.annotate(
                f"{m:.0f}",
                (x, m),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                color=_LINE,
                # A white backing keeps the figure readable where it falls on a bar.
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
    handles = volume.get_legend_handles_labels()[0] + speed.get_legend_handles_labels()[0]
    volume.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def chart_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, at its own size."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_chart(days: tuple[DayPoint, ...], *, title: str, zone: str) -> bytes:
    """The chart as PNG bytes (blocking: run it in a worker thread)."""
    return chart_png(build_chart(days, title=title, zone=zone))

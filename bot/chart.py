"""The digest's chart: installed units per core category over the last 90 days, as a PNG.

Rendered headless (matplotlib's Agg backend, no display needed), sized for a phone screen:
large type, thick lines, each category's latest value in the legend below the plot.
"""

from __future__ import annotations

import io
from typing import Any

from bot.i18n import Speaker, speaker
from queries.history import History
from queries.view import _

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 120  # 960 × 720 pixels: crisp on a phone, small file
MAX_LINES = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def installed_chart(history: History, *, title: str, speak: Speaker | None = None) -> bytes:
    """The PNG bytes of the chart (an empty history gives a chart that says so)."""
    speak = speak or speaker()
    # Imported here: matplotlib and numpy cost a serving process ~50 MB, needed only for digests.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=16, loc="left")
    biggest = sorted(history.units.items(), key=lambda kv: (-kv[1][-1], kv[0]))[:MAX_LINES]
    if not biggest:
        ax.text(0.5, 0.5, speak(_("No units installed")), ha="center", va="center", fontsize=16)
        ax.set_axis_off()
    for category, points in biggest:
        days: Any = history.days
        # The latest value goes in the legend: end-of-line labels collide when lines are close.
        ax.plot(days, points, linewidth=3, label=f"{category}  {speak.count(points[-1])}")
    if biggest:
        ax.set_ylabel(speak(_("units in use")), fontsize=13)
        ax.tick_params(labelsize=12)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: speak.count(round(v))))
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.02)
        ax.legend(
            fontsize=13,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.08),
            ncol=2,
            frameon=False,
        )
        ax.xaxis.set_major_formatter(DateFormatter("%d %b"))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


__all__ = ["PNG_SIGNATURE", "installed_chart"]

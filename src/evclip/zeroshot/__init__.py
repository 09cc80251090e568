"""Zero-shot recognition of event recordings over time (the ``evclip zeroshot`` timeline).

Sits beside the engine, above the models: it drives :class:`evclip.models.eventclip.EventClip`
over the windows of a long recording and draws the result. One answer for a whole stream is
:func:`evclip.models.eventclip.zeroshot_stream`.
"""

from evclip.zeroshot.strip import LabelStrip
from evclip.zeroshot.timeline import (
    TimelineRow,
    TimeWindow,
    check_window,
    classify_windows,
    count_windows,
    sliding_windows,
    timeline,
)

__all__ = [
    "LabelStrip",
    "TimeWindow",
    "TimelineRow",
    "check_window",
    "classify_windows",
    "count_windows",
    "sliding_windows",
    "timeline",
]

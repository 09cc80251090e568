"""Images and videos to events: a DVS simulator, camera motions and dataset-scale synthesis."""

from evclip.simulate.config import SimulatorConfig
from evclip.simulate.motion import (
    MOTIONS,
    random_affine_motion,
    saccade_motion,
    simulate_image,
)
from evclip.simulate.simulator import (
    EventColumns,
    EventSimulator,
    columns_to_events,
    simulate_batch,
    simulate_frames,
)

__all__ = [
    "MOTIONS",
    "EventColumns",
    "EventSimulator",
    "SimulatorConfig",
    "columns_to_events",
    "simulate_batch",
    "random_affine_motion",
    "saccade_motion",
    "simulate_frames",
    "simulate_image",
]

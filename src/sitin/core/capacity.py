"""What a bot costs the worker that runs it, in load units, and what a worker can carry.

One unit is about a record-only bot in a sitin room (decode, mix, encode: 7-12 % of a core
measured by benchmarks/bot_density.py); offline transcription adds the most (the model runs on
the worker's CPU: 25-50 % of a core per bot); a hosted provider only adds the upload. A worker
process carries ``UNITS_PER_CORE`` units for each core it has to itself, at most one core's
worth: one process is one GIL, so a machine's cores are used by one worker each.
"""

from collections.abc import Mapping
from typing import Any

from sitin.core.transcription_settings import chosen_provider

UNITS_PER_CORE = 10.0
RECORDING_COST = 1.0
TRANSCRIPTION_COST = {"offline": 3.0, "openai": 0.5, "deepgram": 0.5, "none": 0.0}


def bot_cost(settings: Mapping[str, Any]) -> float:
    """Load units of a bot with these (validated, stored) settings."""
    provider = chosen_provider(settings.get("transcription_settings"))
    return RECORDING_COST + TRANSCRIPTION_COST[provider]


def default_capacity(cores: int, workers_sharing: int = 1) -> float:
    """Units for one of ``workers_sharing`` worker processes on a machine with ``cores``."""
    return UNITS_PER_CORE * min(1.0, cores / max(workers_sharing, 1))

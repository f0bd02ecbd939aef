"""What a bot costs the worker that runs it, in load units, and what a worker can carry.

Calibrated on one core given to one worker, in the meeting transcription is judged by: four
participants taking turns (`benchmarks/bot_density.py --pin --turn-taking`). One unit is a
record-only bot (receive and decode four voices, mix, encode the mp3: 7.5-8.4 % of the core);
the core kept up with 12 of them (90 %, 0.03 % of the audio lost) and not with 16 (7 % lost). A
bot transcribing offline runs the model on the worker's CPU as well: with 3 the transcripts'
delay stayed flat over 75 s, with 4 it began to grow and with 5 audio was lost, so it costs 4
units. A hosted provider only adds the upload. A worker process carries ``UNITS_PER_CORE``
units for each core it has to itself, at most one core's worth: one process is one GIL, so a
machine's cores are used by one worker each.
"""

from collections.abc import Mapping
from typing import Any

from sitin.core.transcription_settings import chosen_provider

UNITS_PER_CORE = 12.0
RECORDING_COST = 1.0
TRANSCRIPTION_COST = {"offline": 3.0, "openai": 0.5, "deepgram": 0.5, "none": 0.0}


def bot_cost(settings: Mapping[str, Any]) -> float:
    """Load units of a bot with these (validated, stored) settings."""
    provider = chosen_provider(settings.get("transcription_settings"))
    return RECORDING_COST + TRANSCRIPTION_COST[provider]


def default_capacity(cores: int, workers_sharing: int = 1) -> float:
    """Units for one of ``workers_sharing`` worker processes on a machine with ``cores``."""
    return UNITS_PER_CORE * min(1.0, cores / max(workers_sharing, 1))

"""A bot's pipeline, put together from its settings: which stages it runs, in which order.

    PauseGate ─► RealtimeAudioStage ─► PlaybackStage ─► RecordingStage ─► TrackStage
                 (with websocket_settings)                (unless format     (with the accuracy
                                                           "none")            pass)
              ─► SegmentationStage ─► TranscriptionStage ─► CaptureWriter
                 (unless transcription is "none")

The bot's voice (AudioOut from speech, output_audio and the realtime websocket) reaches the
meeting only through the PlaybackStage; BotSpoke (what was played) goes on to the recording.

The recording is taken through the deletion fence when the pipeline ends; a provider that cannot
be built (a missing API key, …) still yields an utterance per segment, each marked failed. What
the stages keep on disk while the bot runs (the recording being encoded, the spilled backlog) is
sealed under the bot's data key, in the bot's own work folder. With the accuracy pass, the
TrackStage keeps each participant's whole track (sealed too) and `accuracy_pass_of` hands it and
the offline provider to the runner once the pipeline has finished (runtime/accuracy_pass.py).
"""

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from sitin.context import AppContext
from sitin.core import realtime_audio
from sitin.core.transcription_settings import wants_accuracy_pass
from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.encryption import DataKey, KeyDestroyed
from sitin.runtime import botstate
from sitin.runtime.blob_fence import store_blob
from sitin.runtime.capture_writer import CaptureWriter
from sitin.runtime.pipeline.base import Pipeline, Stage
from sitin.runtime.pipeline.recorder import Recorder, open_recorder
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.stages import (
    PauseGate,
    PlaybackStage,
    RecordingStage,
    SegmentationStage,
    TrackStage,
    TranscriptionStage,
)
from sitin.runtime.pipeline.tracks import ParticipantTracks
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.factory import build_provider
from sitin.transcription.offline import OfflineWhisperProvider


class UnavailableProvider(TranscriptionProvider):
    """Stands in when the bot's provider cannot be built (e.g. no API key): each segment fails
    with the reason, so the failure is visible per utterance and in the final state."""

    def __init__(self, reason: str):
        self.reason = reason

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        raise TranscriptionFailed(self.reason, retryable=False)


async def build_pipeline(
    ctx: AppContext,
    bot_id: str,
    *,
    settings: dict[str, Any],
    project_id: str,
    work_dir: Path,
    playback: PlaybackStage | None = None,
) -> Pipeline:
    """The bot's stages, linked (not started): call when capture begins. Without `playback`
    (the meeting adapter's voice) the bot says nothing."""
    recording = settings["recording_settings"]
    stages: list[Stage] = [
        PauseGate(keep_chat_when_paused=recording["record_chat_messages_when_paused"])
    ]
    streams = realtime_audio.streams(settings.get("websocket_settings"))
    if streams:
        # only for a bot that streams: an idle worker need not load the websocket client
        from sitin.runtime.pipeline.realtime import RealtimeAudioStage

        async def report(level: str, message: str) -> None:
            await asyncio.to_thread(
                botstate.log, ctx, bot_id, level=level, entry_type="realtime_audio", message=message
            )

        stages.append(
            RealtimeAudioStage(
                bot_id,
                streams,
                guard=ctx.outbound,
                report=report,
                reconnect_attempts=ctx.settings.realtime_reconnect_attempts,
                reconnect_delay_s=ctx.settings.realtime_reconnect_delay,
            )
        )
    if playback is not None:
        stages.append(playback)
    provider = await _provider(ctx, bot_id, settings, project_id)  # first: it may load a model
    key = await asyncio.to_thread(scratch_key, ctx, bot_id)
    recorder = open_recorder(
        work_dir / f"recording.{recording['format']}", recording["format"], seal_with=key
    )
    if recorder is not None:

        async def store(finished: Recorder) -> None:
            await asyncio.to_thread(store_recording, ctx, bot_id, finished)

        stages.append(RecordingStage(recorder, store))
    if isinstance(provider, OfflineWhisperProvider) and wants_accuracy_pass(
        settings.get("transcription_settings")
    ):
        stages.append(TrackStage(ParticipantTracks(work_dir / "tracks", key)))
    if provider is not None:
        stages.append(SegmentationStage(SpeakerSegmenters()))
        stages.append(
            TranscriptionStage(
                provider,
                work_dir=work_dir / "backlog",
                seal_with=key,
                max_memory_seconds=ctx.settings.transcription_memory_seconds,
            )
        )
    stages.append(
        CaptureWriter(
            ctx,
            bot_id,
            speech_events=recording["record_participant_speech_start_stop_events"],
            keep_audio=recording["record_async_transcription_audio_chunks"],
        )
    )
    return Pipeline(stages)


def accuracy_pass_of(
    pipeline: Pipeline,
) -> tuple[ParticipantTracks, OfflineWhisperProvider] | None:
    """The tracks kept for the accuracy pass and the model to run it with, if the bot asked."""
    tracks = [stage.tracks for stage in pipeline.stages if isinstance(stage, TrackStage)]
    providers = [
        stage.transcriber.provider
        for stage in pipeline.stages
        if isinstance(stage, TranscriptionStage)
    ]
    if tracks and providers and isinstance(providers[0], OfflineWhisperProvider):
        return tracks[0], providers[0]
    return None


def scratch_key(ctx: AppContext, bot_id: str) -> DataKey:
    """The key the bot's scratch files are sealed under: its data key (made on first use). If
    the data was deleted already, a throwaway key: nothing of this run will be kept (the fence
    refuses every write), and its scratch files are unreadable from the start."""
    try:
        with ctx.db.read() as conn:
            capture.ensure_capturable(conn, bot_id)
        return ctx.keys.key_for_writing(bot_id)
    except (DataDeleted, KeyDestroyed):
        return DataKey.generate()


def store_recording(ctx: AppContext, bot_id: str, recorder: Recorder) -> None:
    """Upload the finished recording through the fence (refused, and removed, once deleted)."""
    key = capture.blob_key(bot_id, f"recording.{recorder.format}")

    def record(tx, size: int) -> None:
        capture.set_recording_file(
            tx,
            bot_id=bot_id,
            blob_key=key,
            blob_size=size,
            first_buffer_timestamp_ms=int(recorder.start_ms),
        )

    # DataDeleted: the deletion won, nothing of the recording is kept
    with contextlib.suppress(DataDeleted), recorder.open_recording() as recording:
        store_blob(ctx.db, ctx.blobs, bot_id=bot_id, key=key, content=recording, record=record)


async def _provider(
    ctx: AppContext, bot_id: str, settings: dict[str, Any], project_id: str
) -> TranscriptionProvider | None:
    transcription = settings.get("transcription_settings") or {}
    if "none" in transcription:
        return None
    accounts = await asyncio.to_thread(botstate.provider_accounts, ctx, project_id)
    try:
        provider = build_provider(
            transcription,
            accounts,
            server_accounts=ctx.settings.provider_accounts,
            whisper_model_dir=ctx.settings.whisper_model_dir,
            models=ctx.models,
        )
        # Before capture starts: loading a local model is seconds of CPU that would otherwise
        # compete with receiving the first speech (and keep the first utterance waiting).
        await provider.warm_up()
        return provider
    except TranscriptionFailed as exc:
        # every utterance is kept, marked failed with the reason, and counted at the end
        message = f"transcription unavailable: {exc.reason}"
        await asyncio.to_thread(
            botstate.log, ctx, bot_id, level="error", entry_type="transcription", message=message
        )
        return UnavailableProvider(exc.reason)

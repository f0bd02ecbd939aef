"""Cut one participant's live audio into speech segments, ready to transcribe.

Feed 48 kHz mono int16 frames with their capture timestamps; get back `SpeechSegment`s (16 kHz
float32) whenever a stretch of speech is closed by enough silence, reaches the maximum length, or
the stream is flushed. Voice activity comes from the silero model that ships with faster-whisper
(onnxruntime, no torch), run window by window with its recurrent state carried between calls, so
each sample is looked at once: about 0.1 ms of CPU per 32 ms window. Silence (a peak under
-60 dBFS) is not run through the model at all; the model's state stays as the last sound left it
(from a fresh state instead, it rose early at the next onset, and segment edges moved).

`feed` is synchronous and cheap (tens of microseconds per 20 ms frame); callers may run it on the
event loop or in their capture thread. One segmenter per participant; `SpeakerSegmenters` keeps
them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.transcription.base import SAMPLE_RATE, SpeechSegment
from sitin.transcription.packing import PACKED_S

WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms); fixed by the silero model
# Audio whose peak stays under -60 dBFS is silence (speech peaks 40 dB above it) and is not run
# through the model: in a meeting most participants are silent most of the time.
SILENCE_PEAK = 10 ** (-60 / 20)
CONTEXT = 64  # samples of the previous window the model sees before each window
SHORT_PAUSE = SAMPLE_RATE * 98 // 1000  # a pause this long is a fair place to cut a long segment


@dataclass(frozen=True)
class SegmenterOptions:
    threshold: float = 0.5  # speech probability that starts (or continues) speech
    neg_threshold: float = 0.35  # below this a window counts as silence
    # silence that closes a segment. Sentence gaps are ~0.7-1 s; cut at 400 ms pauses inside a
    # sentence, tiny.en lost words it heard in the whole track ("ask not" -> "asked not"), and
    # every cut is one more segment to decode (benchmarks/transcription.py --fidelity)
    min_silence_ms: int = 700
    speech_pad_ms: int = 150  # audio kept after the detected speech
    # kept before it: silero rises up to ~260 ms into a soft first word ("go forward" lost its "go",
    # and the decoder filled the window with "Thanks for watching!" instead)
    lead_pad_ms: int = 400
    min_speech_ms: int = 250  # shorter blips (clicks, coughs) are dropped
    # what a Whisper window holds (packing.PACKED_S); longer speech is cut at a pause
    max_segment_ms: int = round(PACKED_S * 1000)
    # each segment carries up to this much of the speaker's previous speech as context (0: none)
    context_ms: int = 8_000
    gap_fill_max_ms: int = 2_000  # missing audio up to this long is filled with silence
    gap_tolerance_ms: int = 60  # timestamp jitter ignored

    def __post_init__(self) -> None:
        if 2 * self.speech_pad_ms > self.min_silence_ms:
            raise ValueError("speech_pad_ms must be at most half of min_silence_ms")
        if self.max_segment_ms < 1000:
            raise ValueError("max_segment_ms must be at least 1000")
        if not 0 <= self.context_ms <= 20_000:
            raise ValueError("context_ms must be between 0 and 20000")


def samples_for(ms: int) -> int:
    return SAMPLE_RATE * ms // 1000


class Downsampler:
    """Integer-factor low-pass decimation to 16 kHz that keeps its state between frames."""

    def __init__(self, input_rate: int) -> None:
        if input_rate % SAMPLE_RATE:
            raise ValueError(f"input rate must be a multiple of {SAMPLE_RATE} Hz, not {input_rate}")
        self.factor = input_rate // SAMPLE_RATE
        if self.factor == 1:
            self.taps = np.ones(1, dtype=np.float32)
        else:
            length = 16 * self.factor + 1
            cutoff = 0.45 / self.factor  # of the input rate: 7.2 kHz for every factor
            n = np.arange(length) - (length - 1) / 2
            taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(length)
            self.taps = (taps / taps.sum()).astype(np.float32)
        self._history = np.zeros(len(self.taps) - 1, dtype=np.float32)
        self._phase = 0  # input samples to skip before the next kept one

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return samples
        joined = np.concatenate([self._history, samples])
        filtered = np.convolve(joined, self.taps, mode="valid")  # one value per new sample
        kept = filtered[self._phase :: self.factor]
        self._phase = (self._phase - len(samples)) % self.factor
        self._history = joined[len(joined) - len(self._history) :]
        return kept


class StreamingVad:
    """Silero speech probabilities for consecutive 512-sample windows of one stream."""

    def __init__(self) -> None:
        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        windows = audio.reshape(-1, WINDOW)
        if not len(audio) or float(np.abs(audio).max()) < SILENCE_PEAK:
            self._context = np.zeros(CONTEXT, dtype=np.float32)  # the state is kept as it was
            return np.zeros(len(windows), dtype=np.float32)
        contexts = np.concatenate([self._context[None, :], windows[:-1, -CONTEXT:]])
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs).reshape(-1)


class _SampleBuffer:
    """Samples addressed by absolute index; the oldest can be discarded cheaply."""

    def __init__(self) -> None:
        self._data = np.zeros(SAMPLE_RATE * 4, dtype=np.float32)
        self._length = 0
        self.start = 0  # absolute index of the first held sample

    @property
    def end(self) -> int:
        return self.start + self._length

    def append(self, samples: np.ndarray) -> None:
        needed = self._length + len(samples)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), dtype=np.float32)
            grown[: self._length] = self._data[: self._length]
            self._data = grown
        self._data[self._length : needed] = samples
        self._length = needed

    def get(self, begin: int, end: int) -> np.ndarray:
        return self._data[begin - self.start : end - self.start].copy()

    def discard_before(self, index: int) -> None:
        drop = min(index, self.end) - self.start
        if drop <= 0:
            return
        self._data[: self._length - drop] = self._data[drop : self._length]
        self._length -= drop
        self.start += drop

    def restart_at(self, index: int) -> None:
        self._length = 0
        self.start = index


class SpeechSegmenter:
    """Streaming VAD segmenter for one participant."""

    def __init__(
        self,
        speaker_uuid: str,
        options: SegmenterOptions | None = None,
        *,
        input_rate: int = MEETING_SAMPLE_RATE,
    ) -> None:
        self.speaker_uuid = speaker_uuid
        self.options = options or SegmenterOptions()
        self._downsample = Downsampler(input_rate)
        self._vad = StreamingVad()
        self._buffer = _SampleBuffer()
        self._origin_ms: float | None = None  # capture time of absolute sample `_origin_index`
        self._origin_index = 0
        self._vad_pos = 0  # absolute index of the next window to classify
        self._emitted_until = 0  # no segment may start before this index
        self._speech_start: int | None = None  # set while inside speech
        self._silence_start = 0  # 0: not in a pause; else where the current pause began
        self._pause: tuple[int, int] | None = None  # last >=98 ms pause inside speech: (from, to)
        self._spoken = np.zeros(0, dtype=np.float32)  # the tail of the segments emitted so far

    def feed(self, samples: np.ndarray, timestamp_ms: float) -> list[SpeechSegment]:
        """Add one frame (int16 or float32 mono at the input rate) captured at `timestamp_ms`."""
        segments = self._follow_clock(timestamp_ms)
        audio = np.asarray(samples).reshape(-1)
        if audio.dtype == np.int16:
            audio = audio.astype(np.float32) / 32768.0
        self._buffer.append(self._downsample(audio.astype(np.float32, copy=False)))
        segments += self._classify_new_windows()
        return segments

    def flush(self) -> list[SpeechSegment]:
        """End of stream (or a long gap): emit the speech in progress, if any."""
        segments: list[SpeechSegment] = []
        if self._speech_start is not None:
            end = self._silence_start or self._buffer.end
            segments += self._emit(self._speech_start, end, pad_end=bool(self._silence_start))
        self._speech_start = None
        self._silence_start = 0
        self._pause = None
        self._buffer.discard_before(self._vad_pos - self._kept_before())
        return segments

    def time_of(self, index: int) -> int:
        """Capture time (ms) of an absolute 16 kHz sample index."""
        assert self._origin_ms is not None
        return round(self._origin_ms + (index - self._origin_index) * 1000 / SAMPLE_RATE)

    def _follow_clock(self, timestamp_ms: float) -> list[SpeechSegment]:
        if self._origin_ms is None:
            self._origin_ms = timestamp_ms
            return []
        gap_ms = timestamp_ms - self.time_of(self._buffer.end)
        if gap_ms <= self.options.gap_tolerance_ms:
            return []
        if gap_ms <= self.options.gap_fill_max_ms:
            self._buffer.append(np.zeros(samples_for(round(gap_ms)), dtype=np.float32))
            return self._classify_new_windows()
        segments = self.flush()  # a long hole (muted, reconnect): start a fresh timeline
        self._vad.reset()
        restart = self._buffer.end
        self._buffer.restart_at(restart)
        self._vad_pos = self._emitted_until = self._origin_index = restart
        self._origin_ms = timestamp_ms
        return segments

    def _classify_new_windows(self) -> list[SpeechSegment]:
        count = (self._buffer.end - self._vad_pos) // WINDOW
        if count == 0:
            return []
        probs = self._vad(self._buffer.get(self._vad_pos, self._vad_pos + count * WINDOW))
        segments: list[SpeechSegment] = []
        for prob in probs:
            segments += self._step(float(prob), self._vad_pos)
            self._vad_pos += WINDOW
        if self._speech_start is None:
            self._buffer.discard_before(self._vad_pos - self._kept_before() - CONTEXT)
        return segments

    def _step(self, prob: float, position: int) -> list[SpeechSegment]:
        options = self.options
        if prob >= options.threshold:
            if self._silence_start:
                if position - self._silence_start >= SHORT_PAUSE:
                    self._pause = (self._silence_start, position)
                self._silence_start = 0
            if self._speech_start is None:
                self._speech_start = position
                self._pause = None
            return self._cut_if_too_long(position)
        if self._speech_start is None:
            return []
        if prob < options.neg_threshold and not self._silence_start:
            self._silence_start = position
        if self._silence_start and position - self._silence_start >= samples_for(
            options.min_silence_ms
        ):
            start, end = self._speech_start, self._silence_start
            self._speech_start = None
            self._silence_start = 0
            return self._emit(start, end)
        return self._cut_if_too_long(position)

    def _cut_if_too_long(self, position: int) -> list[SpeechSegment]:
        start = self._speech_start
        if start is None or position + WINDOW - start <= samples_for(self.options.max_segment_ms):
            return []
        if self._silence_start and position - self._silence_start >= SHORT_PAUSE:
            cut, resume = self._silence_start, None  # in a pause now: end the segment here
        elif self._pause is not None:
            cut, resume = self._pause
        else:
            cut, resume = position, position  # no pause at all: cut hard, no overlap
        segments = self._emit(start, cut, pad_end=resume != cut)
        self._speech_start = resume
        self._silence_start = 0
        self._pause = None
        if resume is not None:  # keep memory bounded while someone talks on and on
            self._buffer.discard_before(min(self._emitted_until, resume - self._kept_before()))
        return segments

    def _kept_before(self) -> int:
        """Samples before a possible speech start that must stay in the buffer."""
        return samples_for(max(self.options.speech_pad_ms, self.options.lead_pad_ms))

    def _emit(self, start: int, end: int, *, pad_end: bool = True) -> list[SpeechSegment]:
        if end - start < samples_for(self.options.min_speech_ms):
            return []
        pad = samples_for(self.options.speech_pad_ms)
        lead = samples_for(self.options.lead_pad_ms)
        begin = max(start - lead, self._buffer.start, self._emitted_until)
        finish = min(end + pad if pad_end else end, self._buffer.end)
        self._emitted_until = finish
        samples = self._buffer.get(begin, finish)
        segment = SpeechSegment(
            speaker_uuid=self.speaker_uuid,
            start_ms=self.time_of(begin),
            samples=samples,
            context=self._spoken if len(self._spoken) else None,
        )
        if keep := samples_for(self.options.context_ms):
            self._spoken = np.concatenate([self._spoken, samples])[-keep:]
        return [segment]


class SpeakerSegmenters:
    """One `SpeechSegmenter` per participant, created on first audio."""

    def __init__(
        self, options: SegmenterOptions | None = None, *, input_rate: int = MEETING_SAMPLE_RATE
    ):
        self.options = options or SegmenterOptions()
        self.input_rate = input_rate
        self._by_speaker: dict[str, SpeechSegmenter] = {}

    def feed(
        self, speaker_uuid: str, samples: np.ndarray, timestamp_ms: float
    ) -> list[SpeechSegment]:
        segmenter = self._by_speaker.get(speaker_uuid)
        if segmenter is None:
            segmenter = SpeechSegmenter(speaker_uuid, self.options, input_rate=self.input_rate)
            self._by_speaker[speaker_uuid] = segmenter
        return segmenter.feed(samples, timestamp_ms)

    def flush(self, speaker_uuid: str) -> list[SpeechSegment]:
        """A participant left: emit their speech in progress and forget them."""
        segmenter = self._by_speaker.pop(speaker_uuid, None)
        return segmenter.flush() if segmenter else []

    def flush_all(self) -> list[SpeechSegment]:
        segments: list[SpeechSegment] = []
        for speaker_uuid in list(self._by_speaker):
            segments += self.flush(speaker_uuid)
        return segments

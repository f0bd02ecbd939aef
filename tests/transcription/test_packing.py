"""Segments packed into one Whisper window: layout, attribution by time, and the real model."""

import asyncio
import threading

import numpy as np
import pytest

from sitin.transcription.base import SpeechSegment
from sitin.transcription.offline import OfflineWhisperProvider, shared_model
from sitin.transcription.packing import (
    END_ROOM_S,
    PACKED_S,
    Decoded,
    Layout,
    WindowPacker,
    Word,
    too_repetitive,
)
from support.speech import normalise, word_error_rate
from transcription.real_speech import (
    CARDS,
    GO_FORWARD,
    KENNEDY,
    READER,
    repeated_beyond_reference,
)

RATE = 16_000


def test_layout_places_segments_apart_and_gives_each_word_to_its_own():
    layout = Layout.of([RATE * 2, RATE * 3], gap=RATE)  # 0-2 s, then 3-6 s
    audio = layout.audio([np.ones(RATE * 2, np.float32), np.full(RATE * 3, 2, np.float32)])
    assert len(audio) == RATE * 6
    assert (audio[: RATE * 2] == 1).all() and (audio[RATE * 2 : RATE * 3] == 0).all()
    assert (audio[RATE * 3 :] == 2).all()
    words = [
        Word("first", 0.1, 0.5, 0.9),
        Word("edge", 2.2, 2.4, 0.9),  # in the first half of the gap: still the first segment's
        Word("second", 2.6, 3.2, 0.9),  # starts in the gap, mostly in the second segment
        Word("last", 5.5, 5.9, 0.9),
        Word("thanks", 7.0, 7.5, 0.9),  # after the last audio: the decoder running on
    ]
    first, second = layout.split(words)
    assert [w.text for w in first] == ["first", "edge"]
    assert [w.text for w in second] == ["second", "last"]
    assert second[0].start == 0.0 and second[0].end == pytest.approx(0.2)
    assert second[1].start == pytest.approx(2.5) and second[1].end <= 3.0


def test_a_segments_context_is_decoded_with_it_but_its_words_are_no_ones():
    # 0-2 s a segment; then 3-5 s the second one's context, a gap, 6-8 s the segment itself
    layout = Layout.of([RATE * 2, RATE * 5], gap=RATE, contexts=[0, RATE * 3])
    words = [
        Word("first", 0.1, 0.5, 0.9),
        Word("heard", 3.2, 3.8, 0.9),  # the context: its own segment has it already
        Word("late", 5.1, 5.3, 0.9),  # in the first half of the gap after the context
        Word("early", 5.6, 5.9, 0.9),  # in the second half: the segment's, timed from its start
        Word("new", 6.1, 6.5, 0.9),
        Word("end", 7.6, 8.4, 0.9),  # ends in the gap after the last segment: still its own
    ]
    first, second = layout.split(words)
    assert [w.text for w in first] == ["first"]
    assert [w.text for w in second] == ["early", "new", "end"]
    assert second[0].start == 0.0 and second[0].end == 0.0
    assert second[1].start == pytest.approx(0.1) and second[1].end == pytest.approx(0.5)
    assert second[2].start == pytest.approx(1.6) and second[2].end == pytest.approx(2.0)


class HeldEngine:
    """A stand-in for the model that holds each decode until `release` is set (so that segments
    arrive while a window decodes) and keeps every window's audio."""

    def __init__(self) -> None:
        self.windows: list[np.ndarray] = []
        self.release = threading.Event()

    def decode(self, audio: np.ndarray) -> Decoded:
        self.release.wait(10)
        self.windows.append(audio)
        return Decoded([], "en")

    @property
    def lengths(self) -> list[int]:
        return [len(audio) for audio in self.windows]


def test_context_fills_the_room_left_in_a_window_and_never_costs_another():
    engine = HeldEngine()
    packer = WindowPacker(engine.decode, window_s=10, gap_s=1)
    first, _ = packer.submit(np.zeros(RATE, np.float32))
    drainer = threading.Thread(target=packer.drain)
    drainer.start()
    context = np.ones(RATE * 3, np.float32)
    futures = [packer.submit(np.zeros(RATE * 2, np.float32), context)[0] for _ in range(2)]
    engine.release.set()
    drainer.join(10)
    assert all(f.result(0).words == [] for f in [first, *futures])
    # the two segments and a gap take 5 s: the first one's 3 s of context and its gap fit in the
    # 5 s left, the second one's no longer do
    assert engine.lengths == [RATE, RATE * 9]
    window = engine.windows[1]
    assert (window[: RATE * 3] == 1).all() and (window[RATE * 3 :] == 0).all()
    assert packer.stats.context_s == 3 and packer.stats.audio_s == 5


def test_pending_segments_share_a_window_oldest_first_and_shorter_ones_fill_the_room_left():
    engine = HeldEngine()
    packer = WindowPacker(engine.decode, window_s=10, gap_s=1)
    futures = []
    first, must_drain = packer.submit(np.zeros(RATE * 2, np.float32))
    assert must_drain
    drainer = threading.Thread(target=packer.drain)
    drainer.start()
    for seconds in (3, 3, 3, 12, 1):  # arrive while the first window decodes
        future, again = packer.submit(np.zeros(RATE * seconds, np.float32))
        assert not again  # one worker is already draining
        futures.append(future)
    engine.release.set()
    drainer.join(10)
    assert all(f.result(0) == Decoded([], "en") for f in [first, *futures])
    # the third 3 s segment does not fit beside the first two (3 + 1 + 3 + 1 + 3 > 10), nor the
    # 12 s one anywhere but alone; the 1 s one, last to come, fits behind the first two
    assert engine.lengths == [RATE * 2, RATE * (3 + 1 + 3 + 1 + 1), RATE * 3, RATE * 12]
    assert packer.stats.windows == 4 and packer.stats.segments == 6


def test_a_window_ends_in_silence_so_that_its_last_phrase_needs_no_second_pass():
    """What a window holds stops END_ROOM_S short of Whisper's 30 s, segments and context alike:
    speech up to the very end made faster-whisper decode the last phrase again in a new window."""
    engine = HeldEngine()
    packer = WindowPacker(engine.decode)  # as the offline engine makes it
    first, _ = packer.submit(np.zeros(RATE, np.float32))
    drainer = threading.Thread(target=packer.drain)
    drainer.start()
    for _ in range(3):  # 9 + 1 + 9 + 1 + 9 s would fit in 30 s, not in what a window holds
        packer.submit(np.zeros(RATE * 9, np.float32))
    last, _ = packer.submit(np.zeros(RATE * 5, np.float32), np.ones(RATE * 40, np.float32))
    engine.release.set()
    drainer.join(10)
    assert last.result(0) == Decoded([], "en")
    held = round(PACKED_S * RATE)
    # the second window: two 9 s segments, then the 5 s one after as much of its context as the
    # room left allows (a third 9 s one would not fit: it goes next)
    assert engine.lengths == [RATE, held, RATE * 9]
    assert max(engine.lengths) <= held and END_ROOM_S >= 1.0


def test_a_failed_window_fails_each_of_its_segments_and_the_next_window_still_runs():
    calls = []

    def decode(audio: np.ndarray) -> Decoded:
        calls.append(len(audio))
        if len(calls) == 1:
            raise RuntimeError("engine broke")
        return Decoded([Word("ok", 0.0, 0.1, 1.0)], "en")

    packer = WindowPacker(decode, window_s=30, gap_s=1)
    broken, must_drain = packer.submit(np.zeros(RATE, np.float32))
    packer.drain()
    assert isinstance(broken.exception(0), RuntimeError)
    fine, must_drain = packer.submit(np.zeros(RATE, np.float32))
    assert must_drain  # the failed drain gave its worker slot back
    packer.drain()
    assert [w.text for w in fine.result(0).words] == ["ok"]


def test_real_speakers_packed_in_one_window_each_get_their_own_words():
    """Four people's turns decoded in one window: every segment's words are its own (WER with
    margin, the distinctive words in the right place, nothing said twice)."""
    recordings = [READER[0], CARDS[4], KENNEDY[0], GO_FORWARD[0]]
    provider = OfflineWhisperProvider(cpu_threads=1, num_workers=1)  # one decode at a time
    packer = provider.packer
    before = packer.stats.windows

    async def all_at_once():
        return await asyncio.gather(
            *(
                provider.transcribe(SpeechSegment(f"s{i}", 0, np.array(r.samples)))
                for i, r in enumerate(recordings)
            )
        )

    results = asyncio.run(all_at_once())
    assert packer.stats.windows - before <= 2  # the first alone, then the three that waited
    distinctive = [{"dashwood", "leisure"}, {"spades", "hearts"}, {"americans", "country"}]
    distinctive.append({"forward", "meters"})
    for recording, result, words in zip(recordings, results, distinctive, strict=True):
        heard = normalise(result.transcript)
        assert words <= set(heard), result.transcript
        for other in distinctive:
            if other is not words:
                assert not other & set(heard), result.transcript
        assert word_error_rate(recording.text, result.transcript) <= 0.3, result.transcript
        assert all(0 <= w["start"] <= w["end"] <= recording.seconds for w in result.words)
        assert repeated_beyond_reference(heard, normalise(recording.text)) == 0, result.transcript


def spoken(text: str, start: float, step: float = 0.3) -> list[Word]:
    """The words of `text` one `step` apart from `start`."""
    return [
        Word(w, start + step * i, start + step * i + step / 2, 0.9)
        for i, w in enumerate(text.split())
    ]


def test_a_segment_whose_own_words_repeat_is_decoded_again_alone_and_no_other():
    """Whisper's loop check is made on each segment's words, not on the window's text: a segment
    saying what another one of the window says (two bots in one meeting) is no loop."""
    plain = "we moved the budget review to thursday afternoon"
    looped = " ".join(["the same thing again"] * 8)
    assert too_repetitive(spoken(looped, 0)) and not too_repetitive(spoken(plain, 0))
    assert too_repetitive(spoken(f"{plain} {plain} {plain}", 0))  # what the window's text is
    # 0-4 s the first segment, 5-9 s the second, 10-14 s the third
    layout_words = spoken(plain, 0.1) + spoken(plain, 5.1) + spoken(looped, 10.1, step=0.12)
    alone_calls = []

    def decode_window(audio: np.ndarray) -> Decoded:
        return Decoded([w for w in layout_words if w.start < len(audio) / RATE], "en")

    def decode_alone(audio: np.ndarray) -> Decoded:
        alone_calls.append(audio.copy())
        return Decoded(spoken("the same thing again", 0.1), "en")

    packer = WindowPacker(decode_window, decode_alone=decode_alone, window_s=28, gap_s=1)
    segments = [np.full(RATE * 4, value, np.float32) for value in (0.1, 0.2, 0.3)]
    futures = [packer.submit(samples)[0] for samples in segments]
    packer.drain()
    first, second, third = (future.result(0) for future in futures)
    assert packer.stats.windows == 1 and packer.stats.decoded_alone == 1
    assert len(alone_calls) == 1 and (alone_calls[0] == 0.3).all()  # the third segment's audio
    assert " ".join(w.text for w in first.words) == plain
    assert " ".join(w.text for w in second.words) == plain
    assert [w.text for w in third.words] == ["the", "same", "thing", "again"]


def test_a_segment_keeps_its_words_from_the_window_when_decoding_it_alone_fails():
    looped = spoken(" ".join(["again and again"] * 8), 0.1)

    def decode_alone(audio: np.ndarray) -> Decoded:
        raise RuntimeError("engine broke")

    packer = WindowPacker(
        lambda audio: Decoded(looped, "en"), decode_alone=decode_alone, window_s=28, gap_s=1
    )
    future, _ = packer.submit(np.zeros(RATE * 8, np.float32))
    packer.drain()
    assert [w.text for w in future.result(0).words] == [w.text for w in looped]
    assert packer.stats.decoded_alone == 0


class CountingModel:
    """The real CTranslate2 model, with its encoder and decoder passes counted."""

    def __init__(self, model) -> None:
        self.model = model
        self.encode_calls = self.generate_calls = 0

    def encode(self, *args, **kwargs):
        self.encode_calls += 1
        return self.model.encode(*args, **kwargs)

    def generate(self, *args, **kwargs):
        self.generate_calls += 1
        return self.model.generate(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_the_same_sentence_heard_by_two_bots_is_decoded_in_one_pass_of_one_window():
    """Two bots in one meeting pack the same sentence into one window. Its text compresses like a
    decoder loop; before the check moved to each segment, Whisper decoded such a window five more
    times at rising temperatures (this one too: 3-4x a window's CPU under load)."""
    recording = KENNEDY[0]
    provider = OfflineWhisperProvider(cpu_threads=1, num_workers=1)
    packer = provider.packer
    model = shared_model(provider.models, provider.runtime)
    counting = model.model = CountingModel(model.model)
    futures = [packer.submit(np.array(recording.samples))[0] for _ in range(2)]
    packer.drain()
    assert packer.stats.windows == 1 and packer.stats.segments == 2
    assert counting.generate_calls <= 2  # a pass, and perhaps one more for a phrase left over
    assert packer.stats.decoded_alone == 0
    for future in futures:
        heard = " ".join(w.text for w in future.result(0).words)
        assert word_error_rate(recording.text, heard) <= 0.3, heard
        assert repeated_beyond_reference(normalise(heard), normalise(recording.text)) == 0, heard


class StoppingEngine:
    """A stand-in for the model whose decodes stop `covered[i]` seconds into window i (the
    words of each piece are its own value, said at its middle), as a decode does that leaves a
    phrase unclosed at the end of its window."""

    def __init__(self, *covered: float) -> None:
        self.covered = list(covered)
        self.windows: list[list[float]] = []  # each window's pieces, by the value they hold
        self.alone: list[float] = []

    def decode(self, audio: np.ndarray) -> Decoded:
        covered = self.covered.pop(0) if self.covered else float("inf")
        voiced = np.flatnonzero(audio)
        pieces = np.split(voiced, np.flatnonzero(np.diff(voiced) > 1) + 1)
        words = []
        for piece in pieces:
            middle = (piece[0] + piece[-1]) / 2 / RATE
            if middle < covered:
                words.append(Word(f"{audio[piece[0]]:.1f}", middle - 0.1, middle + 0.1, 0.9))
        self.windows.append([round(float(audio[piece[0]]), 1) for piece in pieces])
        return Decoded(words, "en", covered)

    def decode_alone(self, audio: np.ndarray) -> Decoded:
        self.alone.append(round(float(audio[0]), 1))
        return Decoded([Word(f"{audio[0]:.1f}", 0.4, 0.6, 0.9)], "en")


def test_a_segment_the_decode_stopped_before_goes_first_into_the_next_window():
    """A window decoded once stops where its decoder left a phrase unclosed (one_pass.py): the
    segments after that point are decoded again, first in the next window, not lost."""
    engine = StoppingEngine(4.5)  # the first window: stops after its second segment
    packer = WindowPacker(engine.decode, decode_alone=engine.decode_alone, window_s=28, gap_s=1)
    values = (0.1, 0.2, 0.3, 0.4)
    futures = [packer.submit(np.full(RATE * 2, value, np.float32))[0] for value in values]
    packer.drain()
    heard = [[w.text for w in future.result(0).words] for future in futures]
    assert heard == [["0.1"], ["0.2"], ["0.3"], ["0.4"]]  # each its own words, once
    assert engine.windows == [[0.1, 0.2, 0.3, 0.4], [0.3, 0.4]]
    assert packer.stats.missed == 2 and packer.stats.windows == 2 and packer.stats.segments == 4
    assert engine.alone == []


def test_a_segment_no_window_reaches_is_decoded_alone():
    """A decode that stops before a segment twice does not hold it back for ever."""
    engine = StoppingEngine(0.0, 0.0)  # the decoder closes no phrase, twice
    packer = WindowPacker(engine.decode, decode_alone=engine.decode_alone, window_s=28, gap_s=1)
    future, _ = packer.submit(np.full(RATE * 2, 0.7, np.float32))
    packer.drain()
    assert [w.text for w in future.result(0).words] == ["0.7"]
    assert engine.alone == [0.7] and packer.stats.decoded_alone == 1
    assert len(engine.windows) == 2 and packer.stats.missed == 2


def test_full_windows_of_real_speech_are_encoded_once_each_and_every_segment_gets_its_words():
    """Every turn of the four speakers at once: three full windows. In this order the decoder
    leaves the first window's last phrase unclosed; faster-whisper's loop encoded that window
    again from there (5 encoder passes for 3 windows), the packer puts the turn into the next
    window instead."""
    recordings = [*KENNEDY, *READER, *GO_FORWARD, *CARDS]
    provider = OfflineWhisperProvider(cpu_threads=1, num_workers=1)
    packer = provider.packer
    model = shared_model(provider.models, provider.runtime)
    counting = model.model = CountingModel(model.model)
    futures = [packer.submit(np.array(r.samples))[0] for r in recordings]
    packer.drain()
    assert packer.stats.decoded_alone == 0 and packer.stats.segments == len(recordings)
    assert counting.encode_calls == packer.stats.windows <= 4
    errors, said = 0.0, 0
    for recording, future in zip(recordings, futures, strict=True):
        heard = " ".join(w.text for w in future.result(0).words)
        reference = normalise(recording.text)
        assert word_error_rate(recording.text, heard) <= 0.5, heard  # its words, not another's
        assert repeated_beyond_reference(normalise(heard), reference) == 0, heard
        errors += word_error_rate(recording.text, heard) * len(reference)
        said += len(reference)
    assert errors / said <= 0.2  # offline on the same turns: ~0.11


def test_a_second_decode_starts_only_when_the_first_falls_behind():
    """Two decodes at once took whatever had just arrived and sent out windows nearly empty, each
    paying a full encoder pass; a second starts when a window's worth is waiting, or a segment
    has waited OVERFLOW_S."""
    engine = HeldEngine()
    packer = WindowPacker(engine.decode, workers=2, window_s=10, gap_s=1, overflow_s=60)
    assert packer.submit(np.zeros(RATE, np.float32))[1]  # nothing running: decode now
    # (each segment is counted with the gap after it; the first is still waiting too)
    assert not packer.submit(np.zeros(RATE * 3, np.float32))[1]  # one window takes them all
    assert not packer.submit(np.zeros(RATE * 3, np.float32))[1]  # 2 + 4 + 4 s: still one
    assert packer.submit(np.zeros(RATE, np.float32))[1]  # more than a window waits
    assert not packer.submit(np.zeros(RATE, np.float32))[1]  # both decodes running
    drainers = [threading.Thread(target=packer.drain) for _ in range(2)]
    for drainer in drainers:
        drainer.start()
    engine.release.set()
    for drainer in drainers:
        drainer.join(10)
    assert packer.stats.segments == 5
    waited = WindowPacker(engine.decode, workers=2, overflow_s=0)  # every segment waited enough
    assert waited.submit(np.zeros(RATE, np.float32))[1] and waited.submit(np.zeros(RATE))[1]

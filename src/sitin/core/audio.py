"""The audio formats sitin passes around, as named facts (no media code here).

Meeting audio is what an adapter receives from each participant and what a bot plays into a
meeting, and what recordings are encoded from: WebRTC's Opus clock rate, mono int16. Speech audio
is what speech detection cuts and every transcription provider receives: Whisper's input rate,
mono float32 in [-1, 1].
"""

MEETING_SAMPLE_RATE = 48_000  # Hz: AudioFrame / AudioOut samples, recordings
SPEECH_SAMPLE_RATE = 16_000  # Hz: SpeechSegment samples, kept speech audio (WAV)

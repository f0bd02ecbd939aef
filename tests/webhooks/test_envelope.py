"""The ``data`` builders the runtime calls: Attendee's shapes, webhook datetimes with ``+00:00``."""

from datetime import datetime

import pytest

from sitin.core.triggers import Trigger
from sitin.webhooks import envelope


def test_state_change_data_takes_naive_datetimes_as_utc():
    data = envelope.state_change_data(
        event_type="joined_meeting",
        event_sub_type=None,
        event_metadata=None,
        old_state="joining",
        new_state="joined_not_recording",
        created_at=datetime(2026, 3, 4, 5, 6, 7, 890),
    )
    assert data == {
        "event_type": "joined_meeting",
        "event_sub_type": None,
        "event_metadata": {},
        "old_state": "joining",
        "new_state": "joined_not_recording",
        "created_at": "2026-03-04T05:06:07.000890+00:00",
    }


def test_an_untranscribed_utterance_has_null_transcription():
    data = envelope.transcript_data(
        speaker_name="A",
        speaker_uuid="u",
        speaker_user_uuid=None,
        speaker_is_host=False,
        timestamp_ms=1,
        duration_ms=2,
        transcript=None,
    )
    assert data["transcription"] is None


def test_participant_event_triggers():
    assert envelope.participant_event_trigger("leave") == Trigger.PARTICIPANT_JOIN_LEAVE
    assert envelope.participant_event_trigger("speech_stop") == Trigger.PARTICIPANT_SPEECH
    with pytest.raises(ValueError):
        envelope.participant_event_trigger("update")

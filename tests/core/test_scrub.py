"""The allow-list delete_data keeps of a bot: what is not named is dropped, at any depth."""

from sitin.core.scrub import SAFE_EVENT_KEYS, safe_event_metadata, scrub_settings


def test_people_and_unlisted_keys_are_dropped_and_the_listed_ones_kept():
    metadata = {
        "source": "api",
        "remover_name": "Alice",
        "remover_uuid": "u1",
        "details": [{"participant_name": "Bob", "count": 2}],
        "bot_duration_seconds": 12,
    }
    assert safe_event_metadata(metadata) == {"source": "api", "bot_duration_seconds": 12}


def test_a_key_nobody_listed_yet_is_scrubbed():
    assert safe_event_metadata({"meeting_title": "Layoffs Q3", "deleted": {"utterances": 3}}) == {
        "deleted": {"utterances": 3}
    }


def test_every_listed_key_survives_and_non_dicts_become_empty():
    everything = {key: 1 for key in SAFE_EVENT_KEYS}
    assert safe_event_metadata(everything) == everything
    assert safe_event_metadata(None) == {}
    assert safe_event_metadata(["source"]) == {}


def test_settings_keep_recording_and_options_but_no_free_text_or_urls():
    settings = {
        "recording_settings": {"format": "mp3"},
        "transcription_settings": {
            "openai": {"model": "gpt-4o-transcribe", "prompt": "Acme merger", "language": "en"},
            "deepgram": {"keyterms": ["Project Falcon"], "callback": "https://x/?token=t"},
        },
        "automatic_leave_settings": {"silence_timeout_seconds": 600, "bot_keywords": ["Ava"]},
        "bot_image": {"type": "image/png", "data": "aGVsbG8="},
        "callback_settings": {"url": "https://example.com/?secret=s"},
    }
    assert scrub_settings(settings) == {
        "recording_settings": {"format": "mp3"},
        "transcription_settings": {
            "openai": {"model": "gpt-4o-transcribe", "language": "en"},
            "deepgram": {},
        },
        "automatic_leave_settings": {"silence_timeout_seconds": 600, "bot_keywords": None},
    }


def test_settings_without_sections_scrub_to_an_empty_transcription_section():
    assert scrub_settings({}) == {"transcription_settings": {}}

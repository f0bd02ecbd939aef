"""Sealed fields and wrapped keys: what opens, and what must not."""

import json

import pytest

from sitin.encryption import ContentUnreadable, DataKey, MasterKeys
from sitin.encryption.aead import SEALED_PREFIX


def test_a_sealed_field_opens_only_with_its_key_and_purpose():
    key, other = DataKey.generate(), DataKey.generate()
    sealed = key.seal_text("Ada said the launch moves to May", "chat_messages.text")
    assert sealed.startswith(SEALED_PREFIX) and "launch" not in sealed
    assert key.open_text(sealed, "chat_messages.text") == "Ada said the launch moves to May"
    with pytest.raises(ContentUnreadable):
        other.open_text(sealed, "chat_messages.text")  # another bot's key
    with pytest.raises(ContentUnreadable):
        key.open_text(sealed, "participants.name")  # moved to another column


def test_json_round_trips_and_none_stays_none():
    key = DataKey.generate()
    value = {"transcript": "héllo wörld", "words": [{"word": "héllo", "start": 0.0}]}
    assert key.open_json(key.seal_json(value, "p"), "p") == value
    assert key.seal_json(None, "p") is None and key.open_json(None, "p") is None
    assert key.seal_text(None, "p") is None and key.open_text(None, "p") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s[:-4] + ("AAAA" if not s.endswith("AAAA") else "BBBB"),  # altered bytes
        lambda s: s[: len(SEALED_PREFIX) + 8],  # cut short
        lambda s: s[len(SEALED_PREFIX) :],  # prefix missing (plaintext-looking)
        lambda s: SEALED_PREFIX + "not*base64",
    ],
)
def test_damaged_values_are_refused_not_misread(damage):
    key = DataKey.generate()
    sealed = key.seal_text("secret words", "utterances.transcription")
    with pytest.raises(ContentUnreadable):
        key.open_text(damage(sealed), "utterances.transcription")


def test_lookup_hash_matches_equal_values_and_depends_on_the_key():
    key = DataKey(b"k" * 32)
    assert key.lookup_hash("u-ada") == DataKey(b"k" * 32).lookup_hash("u-ada")
    assert key.lookup_hash("u-ada") != key.lookup_hash("u-bob")
    assert key.lookup_hash("u-ada") != DataKey(b"j" * 32).lookup_hash("u-ada")


def test_wrapped_keys_unwrap_under_a_previous_master_after_rotation():
    old = MasterKeys.from_secrets("old master")
    data_key = DataKey.generate()
    master_id, wrapped = old.wrap(data_key, "bot_a")
    rotated = MasterKeys.from_secrets("new master", ("old master",))
    assert rotated.unwrap(master_id, wrapped, "bot_a").material == data_key.material
    with pytest.raises(ContentUnreadable, match="not configured"):
        MasterKeys.from_secrets("new master").unwrap(master_id, wrapped, "bot_a")
    with pytest.raises(ContentUnreadable):
        old.unwrap(master_id, wrapped, "bot_b")  # bound to its bot


def test_json_column_texts_open_each_value_and_name_what_does_not_open():
    key, other = DataKey.generate(), DataKey.generate()
    purpose = "utterances.transcription"
    sealed = [key.seal_json({"transcript": f"line {i}"}, purpose) for i in range(3)]
    texts = [json.dumps(value) for value in sealed]  # as a JSON column's text holds them
    texts += [
        json.dumps(other.seal_json({"transcript": "another bot's"}, purpose)),
        json.dumps(sealed[0])[:-5] + '"',  # cut short
        json.dumps(SEALED_PREFIX + "not*base64"),
        '{"transcript": "plaintext"}',  # not sealed
        json.dumps(sealed[0][len(SEALED_PREFIX) :]),  # prefix missing
    ]

    opened = key.open_json_column_texts(texts, purpose)

    assert [json.loads(plain) for plain in opened[:3]] == [
        {"transcript": f"line {i}"} for i in range(3)
    ]
    assert all(isinstance(item, ContentUnreadable) for item in opened[3:])
    assert len(opened) == len(texts)

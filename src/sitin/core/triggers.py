"""Webhook triggers (Attendee's names, exactly): what a subscription asks for and a delivery is."""

from enum import StrEnum


class Trigger(StrEnum):
    STATE_CHANGE = "bot.state_change"
    TRANSCRIPT_UPDATE = "transcript.update"
    CHAT_MESSAGES_UPDATE = "chat_messages.update"
    PARTICIPANT_JOIN_LEAVE = "participant_events.join_leave"
    PARTICIPANT_SPEECH = "participant_events.speech_start_stop"
    BOT_LOGS_UPDATE = "bot_logs.update"


# Every trigger a subscription may name, in Attendee's order (listings and messages).
WEBHOOK_TRIGGERS: tuple[str, ...] = tuple(trigger.value for trigger in Trigger)

# Triggers whose payload carries meeting content: delete_data removes their deliveries, and none
# is written for a bot whose data is deleted. Only ``bot.state_change`` deliveries are kept.
CONTENT_TRIGGERS = frozenset(Trigger) - {Trigger.STATE_CHANGE}

"""Commands the API leaves for a running bot (rows in ``bot_commands``, read by its runner)."""

from enum import StrEnum


class BotCommand(StrEnum):
    LEAVE = "leave"
    PAUSE_RECORDING = "pause_recording"
    RESUME_RECORDING = "resume_recording"
    SYNC_CHAT_MESSAGE_REQUESTS = "sync_chat_message_requests"  # new chat messages to send
    SYNC_OUTPUT_REQUESTS = "sync_output_requests"  # audio or speech for the bot to play

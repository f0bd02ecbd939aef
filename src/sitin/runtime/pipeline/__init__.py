"""Audio processing stages of the bot runtime (mixing, recording, ...)."""

"""Text to speech: the engines that turn a speech request's text into audio the bot plays."""

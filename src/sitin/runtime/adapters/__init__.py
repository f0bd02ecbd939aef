"""Meeting platform adapters: how the bot gets into a meeting and what it hears there."""

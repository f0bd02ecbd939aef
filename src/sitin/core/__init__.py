"""Pure domain: states, transitions, ids, validation, URL parsing.

Imports no web, database or media code."""

"""Janus VideoRoom meetings: the WebSocket API client and the adapter built on it."""

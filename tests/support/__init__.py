"""Helpers shared by tests: local servers, speech fixtures, aiortc test participants."""

"""Webhooks' delivery subsystem: firing (one attempt row per subscription, in the caller's
transaction), the signed envelope, delivery by the queue with retries, and the sweep.

The runtime calls ``dispatch.fire(tx, bot_id=…, trigger=…, data=…)`` with ``data`` built by the
``envelope`` helpers; bot state changes fire by themselves (a ``record_event`` listener).
Subscriptions are managed by ``services.webhooks``; every row goes through ``db/``.
"""

"""Webhooks: subscriptions, the signed envelope, delivery by the queue, and the deletion fence.

The runtime calls ``dispatch.fire(tx, bot_id=…, trigger=…, data=…)`` with ``data`` built by the
``envelope`` helpers; bot state changes fire by themselves (a ``record_event`` listener).
"""

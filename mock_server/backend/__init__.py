"""The fake's business logic: apps, jobs, their lifecycle and the clock.

Nothing in this package imports Flask or knows about HTTP (the Moto layout:
``models`` hold state and rules, the ``http`` package parses and serialises).
"""

"""Fault-tolerance scenarios (`make chaos`).

Kills, NATS node loss, PostgreSQL restart, receiver outage.
"""

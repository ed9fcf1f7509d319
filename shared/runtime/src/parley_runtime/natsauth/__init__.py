"""NATS authentication and authorisation for Parley (operator mode with an auth callout).

`authority` generates the trust chain and the services' credentials, `permissions` says who
may do what, `callout` admits plain user/password connections (the operator credential and
integrators), `tenants` keeps each integrator's NATS account and durable consumers, `jwt`
encodes the claims. docs/nats-security.md explains the choices.
"""

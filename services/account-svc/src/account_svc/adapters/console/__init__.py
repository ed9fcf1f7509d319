"""The operator console: static pages served at `/console` and its cookie session.

The pages speak only the management API (CONTRACT section 2) with `fetch`; `routes` serves
them and the session endpoints, `session` decides which token a request's cookies carry.
"""

"""Parley's service runtime: plumbing the three services share, kept apart from the contracts.

`parley_shared` holds what every service must agree on (subjects, event shapes, the envelope);
this package holds how a service runs (NATS connections, HTTP app assembly). Changing it does
not force the services to redeploy together.
"""

"""webhook-svc: lossless fan-out of status and user-initiated events to HTTPS and NATS targets."""

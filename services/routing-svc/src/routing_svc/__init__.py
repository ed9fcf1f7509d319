"""routing-svc: messaging API, policy, consent, channel providers, load balancing, fallback."""

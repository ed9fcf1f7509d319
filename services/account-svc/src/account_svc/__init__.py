"""account-svc: Parley's management API (organizations, users, business groups, access accounts)."""

"""Whether an account's IP restriction admits a client (who the client is:
`parley_runtime.addresses.client_address`, walking trusted proxies)."""

from __future__ import annotations

from collections.abc import Sequence

from parley_runtime.addresses import Address, Network, in_any


def ip_allowed(address: Address | None, allowlist: Sequence[Network] | None) -> bool:
    """Whether an address passes an IP restriction (None = mode `all`)."""
    if allowlist is None:
        return True
    return address is not None and in_any(address, allowlist)

"""Pure rules of account-svc: no I/O, only parley_shared and the standard library."""

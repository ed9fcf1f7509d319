"""Pure rules: no I/O; only parley_shared and the standard library."""

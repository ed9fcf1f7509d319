"""Channel provider adapters (CONTRACT section 9)."""

"""Channel providers: the interface and its implementations (the sandbox first)."""

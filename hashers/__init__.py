"""Built-in hashing backends, one module each, found by the registry through entry points."""

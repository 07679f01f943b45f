"""Pure domain of the gateway: standard library only, no I/O."""

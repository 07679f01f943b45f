"""The I/O shell around the session core: two pumps, one shared tick, timeouts and closing."""

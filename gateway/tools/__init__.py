"""Gateway-side tools: the I/O shell (HTTP and MCP clients, result cache, per-session runner)."""

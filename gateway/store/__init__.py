"""The Redis store: the only home of redis-py (connections, Lua scripts, raw operations)."""

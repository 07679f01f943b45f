-- release: give a session's concurrency slot back (idempotent).
-- KEYS[1] leases ZSET (member = session id)
-- ARGV[1] session id
-- Returns 1 when a lease was removed, 0 when none was held (already released or reclaimed).
return redis.call('ZREM', KEYS[1], ARGV[1])

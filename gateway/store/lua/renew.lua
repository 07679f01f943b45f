-- renew: heartbeat; extend the leases of sessions still running on this instance.
-- KEYS[1] leases ZSET (member = session id, score = lease expiry in ms)
-- ARGV[1] now (ms)   ARGV[2] new expiry (ms)   ARGV[3..n] session ids
-- Returns the number of the given sessions whose lease had lapsed or been reclaimed (re-added:
--   they are still running, so they count against the concurrency limit again).
local now, expiry = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lapsed = 0
for i = 3, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then lapsed = lapsed + 1 end
  redis.call('ZADD', KEYS[1], expiry, ARGV[i])
end
local keep = expiry - now + 60000
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return lapsed

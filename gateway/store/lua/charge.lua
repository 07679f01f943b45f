-- charge: checkpoint a session's cumulative cost and move the tenant's spend by the difference.
-- Idempotent: the session's last checkpoint is kept, so a retried call never double-charges.
-- KEYS[1] session checkpoint HASH (field "charged", integer micro-dollars)
-- KEYS[2] day spend counter, KEYS[3] month spend counter (integer micro-dollars)
-- ARGV[1] session cost so far (micros)   ARGV[2] day TTL (s)   ARGV[3] month TTL (s)
-- ARGV[4] session checkpoint TTL (s)
-- ARGV[5] daily budget micros (-1 = none)   ARGV[6] monthly budget micros (-1 = none)
-- Returns {day_total, month_total, delta_applied, exhausted}: exhausted = 1 when a total has
--   reached its budget (spend >= budget). The charge itself is never refused: it already happened.
local cumulative = tonumber(ARGV[1])
local previous = tonumber(redis.call('HGET', KEYS[1], 'charged') or '0')
local delta = cumulative - previous
local day, month
if delta ~= 0 then
  day = redis.call('INCRBY', KEYS[2], delta)
  month = redis.call('INCRBY', KEYS[3], delta)
  redis.call('HSET', KEYS[1], 'charged', cumulative)
else
  day = tonumber(redis.call('GET', KEYS[2]) or '0')
  month = tonumber(redis.call('GET', KEYS[3]) or '0')
end
if redis.call('TTL', KEYS[2]) < 0 and day ~= 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
if redis.call('TTL', KEYS[3]) < 0 and month ~= 0 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local daily, monthly = tonumber(ARGV[5]), tonumber(ARGV[6])
local exhausted = 0
if (daily >= 0 and day >= daily) or (monthly >= 0 and month >= monthly) then exhausted = 1 end
return {day, month, delta, exhausted}

-- charge: checkpoint the cumulative cost of one or more sessions of one tenant and move the tenant's spend by
-- the differences (a flush sends one call per tenant, not one per session).
-- Idempotent: each session's last checkpoint is kept, so a retried call never double-charges.
-- KEYS[1] day spend counter, KEYS[2] month spend counter (integer micro-dollars)
-- KEYS[3..n] the sessions' checkpoint HASHes (field "charged", integer micro-dollars)
-- ARGV[1] day TTL (s)   ARGV[2] month TTL (s)   ARGV[3] session checkpoint TTL (s)
-- ARGV[4] daily budget micros (-1 = none)   ARGV[5] monthly budget micros (-1 = none)
-- ARGV[6..] each session's cost so far (micros), in the order of KEYS[3..]
-- Returns {day_total, month_total, exhausted, delta_1, ..., delta_k}: the totals after every session's charge,
--   exhausted = 1 when a total has reached its budget (spend >= budget), and the delta applied per session.
--   The charge itself is never refused: it already happened.
-- Every read comes before any write, and the spend moves before the checkpoints: a call that fails part way leaves
-- no checkpoint ahead of the spend it stands for (a retry may charge again, never lose a charge).
local moved = 0
local reply = {0, 0, 0}
for i = 3, #KEYS do
  local previous = tonumber(redis.call('HGET', KEYS[i], 'charged') or '0')
  local delta = tonumber(ARGV[i + 3]) - previous
  moved = moved + delta
  reply[i + 1] = delta
end
local day, month
if moved ~= 0 then
  day = redis.call('INCRBY', KEYS[1], moved)
  month = redis.call('INCRBY', KEYS[2], moved)
else
  day = tonumber(redis.call('GET', KEYS[1]) or '0')
  month = tonumber(redis.call('GET', KEYS[2]) or '0')
end
for i = 3, #KEYS do
  if reply[i + 1] ~= 0 then redis.call('HSET', KEYS[i], 'charged', ARGV[i + 3]) end
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
if redis.call('TTL', KEYS[1]) < 0 and day ~= 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if redis.call('TTL', KEYS[2]) < 0 and month ~= 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
local daily, monthly = tonumber(ARGV[4]), tonumber(ARGV[5])
if (daily >= 0 and day >= daily) or (monthly >= 0 and month >= monthly) then reply[3] = 1 end
reply[1], reply[2] = day, month
return reply

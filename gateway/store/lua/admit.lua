-- admit: grant a session a concurrency slot, after budget, concurrency and rate checks.
-- KEYS[1] leases ZSET (member = session id, score = lease expiry in ms)
-- KEYS[2] token-bucket HASH (tokens, at)
-- KEYS[3] day spend counter, KEYS[4] month spend counter (integer micro-dollars)
-- ARGV[1] session id          ARGV[2] now (ms)              ARGV[3] lease expiry (ms)
-- ARGV[4] max concurrent (-1 = none)
-- ARGV[5] bucket refill, sessions per minute (-1 = no rate limit)   ARGV[6] bucket size
-- ARGV[7] daily budget micros (-1 = none)   ARGV[8] monthly budget micros (-1 = none)
-- Returns {status, day_spend, month_spend, detail}: status "ok" | "budget" | "concurrency" | "rate";
--   detail = active leases after the call ("ok", "concurrency") or ms until a token ("rate").
-- Expired leases are reclaimed first. A refused session consumes no rate token.
local session, now, expiry = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local max_conc, rate, size = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local daily, monthly = tonumber(ARGV[7]), tonumber(ARGV[8])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local day = tonumber(redis.call('GET', KEYS[3]) or '0')
local month = tonumber(redis.call('GET', KEYS[4]) or '0')
if (daily >= 0 and day >= daily) or (monthly >= 0 and month >= monthly) then
  return {'budget', day, month, 0}
end

local held = redis.call('ZSCORE', KEYS[1], session)
local active = redis.call('ZCARD', KEYS[1])
if held then
  redis.call('ZADD', KEYS[1], expiry, session)
  return {'ok', day, month, active}
end
if max_conc >= 0 and active >= max_conc then
  return {'concurrency', day, month, active}
end

if rate > 0 then
  local per_ms = rate / 60000.0
  local state = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or at == nil then
    tokens, at = size, now
  end
  if now > at then
    tokens = math.min(size, tokens + (now - at) * per_ms)
    at = now
  end
  if tokens < 1 then
    return {'rate', day, month, math.ceil((1 - tokens) / per_ms)}
  end
  tokens = tokens - 1
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'at', tostring(at))
  redis.call('PEXPIRE', KEYS[2], math.ceil(size / per_ms) + 60000)
end

redis.call('ZADD', KEYS[1], expiry, session)
local keep = expiry - now + 60000
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return {'ok', day, month, active + 1}

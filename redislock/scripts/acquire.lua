-- Acquires the lock on one node and moves its fencing counter.
-- KEYS[1]  lock key (string: holder's value)
-- KEYS[2]  fencing counter key (string: integer)
-- ARGV[1]  holder's random value
-- ARGV[2]  TTL in milliseconds
-- ARGV[3]  proposed token p (optional: 0)
-- ARGV[4]  handoff (optional): the releasing holder's value; when the
--          lock holds it, the lock passes straight to ARGV[1], as if
--          released and acquired in one step
-- Returns  a WRONGTYPE error, leaving everything as it was, when the lock
--          key holds another type or the counter is not a positive integer;
--          written (an integer) when the lock was set: the counter was
--          raised to written = max(counter+1, p);
--          {0, found, pttl} when another holder has it: the counter is
--          unchanged and pttl is the holder's remaining TTL in ms (-1: none).
-- The common case (lock free, no proposal above the counter) is SET + INCR.
local set
if ARGV[4] and redis.call('GET', KEYS[1]) == ARGV[4] then
  set = redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2])
else
  set = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
end
if set then
  local v = redis.pcall('INCR', KEYS[2])
  if type(v) ~= 'number' or v < 1 then
    if type(v) == 'number' then
      redis.call('DECR', KEYS[2])
    end
    redis.call('DEL', KEYS[1])
    return redis.error_reply('WRONGTYPE fencing counter is not an integer')
  end
  local p = tonumber(ARGV[3] or '0')
  if p > v then
    redis.call('SET', KEYS[2], ARGV[3])
    return p
  end
  return v
end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' then
  return redis.error_reply('WRONGTYPE lock key holds a ' .. kind)
end
local raw = redis.call('GET', KEYS[2])
local found = 0
if raw then
  if not string.match(raw, '^%d+$') then
    return redis.error_reply('WRONGTYPE fencing counter is not an integer')
  end
  found = tonumber(raw)
end
return {0, found, redis.call('PTTL', KEYS[1])}

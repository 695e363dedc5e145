-- Acquires the lock on one node and moves its fencing counter.
-- KEYS[1]  lock key (string: holder's value)
-- KEYS[2]  fencing counter key (string: integer)
-- ARGV[1]  holder's random value
-- ARGV[2]  TTL in milliseconds
-- ARGV[3]  proposed token p (0 when none)
-- Returns  a WRONGTYPE error, leaving everything as it was, when the lock
--          key holds another type or the counter is not an integer;
--          {1, found, written} when the lock was set: the counter was
--          raised from found to written = max(found+1, p);
--          {0, found, pttl} when another holder has it: the counter is
--          unchanged and pttl is the holder's remaining TTL in ms (-1: none).
local function counter()
  local raw = redis.call('GET', KEYS[2])
  if not raw then
    return 0
  end
  if not string.match(raw, '^%d+$') then
    return nil
  end
  return tonumber(raw)
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local found = counter()
  if not found then
    redis.call('DEL', KEYS[1])
    return redis.error_reply('WRONGTYPE fencing counter is not an integer')
  end
  local written = found + 1
  local p = tonumber(ARGV[3])
  if p > written then
    written = p
  end
  redis.call('SET', KEYS[2], string.format('%d', written))
  return {1, found, written}
end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' then
  return redis.error_reply('WRONGTYPE lock key holds a ' .. kind)
end
local found = counter()
if not found then
  return redis.error_reply('WRONGTYPE fencing counter is not an integer')
end
return {0, found, redis.call('PTTL', KEYS[1])}

-- Extends the lock's TTL while this holder has it. Where the key has
-- vanished (a node that restarted, or that the grant never reached) it is
-- set again and the counter raised to the token: the caller extends only
-- while it holds a majority, so nobody else can hold the lock meanwhile.
-- KEYS[1]  lock key
-- KEYS[2]  fencing counter key
-- ARGV[1]  holder's random value
-- ARGV[2]  new TTL in milliseconds
-- ARGV[3]  the grant's token
-- Returns  1 when extended (or re-set), 0 when another holder has the key.
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if v then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur == nil or cur < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1

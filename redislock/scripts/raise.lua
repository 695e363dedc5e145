-- Second fencing round: raises the counter to the token, only while the
-- lock is still held by this holder on this node.
-- KEYS[1]  lock key
-- KEYS[2]  fencing counter key
-- ARGV[1]  holder's random value
-- ARGV[2]  token t
-- Returns  1 when the counter is now >= t, 0 when the lock is not held here.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local t = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < t then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1

-- Raises the fencing counter to the token. Raising a counter can only
-- make later tokens larger, so it is safe on any node; with ARGV[3] = "held"
-- it happens only while this holder has the lock there (the second
-- fencing round, which counts towards the majority).
-- KEYS[1]  lock key
-- KEYS[2]  fencing counter key
-- ARGV[1]  holder's random value
-- ARGV[2]  token t
-- ARGV[3]  "held" or "any"
-- Returns  1 when the counter is now >= t, 0 when the lock is not held
--          here (mode "held" only).
if ARGV[3] == 'held' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur == nil or cur < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1

-- Heartbeats (or removes) a group member and lists the live members.
-- KEYS[1]  members (zset member -> expiry, Redis ms)
-- ARGV[1]  member id
-- ARGV[2]  membership TTL in ms
-- ARGV[3]  "1" to join or heartbeat, "0" to leave
-- Returns  the live members, sorted by id.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], 10 * tonumber(ARGV[2]))
local m = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(m)
return m

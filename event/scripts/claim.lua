-- Registers a new owner of a group's partition and returns where to read.
-- KEYS[1]  committed offsets (hash group -> offset)
-- KEYS[2]  owner tokens (hash group -> highest fencing token)
-- ARGV[1]  group
-- ARGV[2]  the new owner's fencing token
-- ARGV[3]  start offset, stored when the group has none for the partition
-- Returns  {1, committed offset} when claimed; {0, stored token} when an
--          owner with a higher token has claimed the partition.
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and tonumber(cur) > tonumber(ARGV[2]) then
  return {0, cur}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local off = redis.call('HGET', KEYS[1], ARGV[1])
if not off then
  off = ARGV[3]
  redis.call('HSET', KEYS[1], ARGV[1], off)
end
return {1, off}

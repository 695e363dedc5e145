-- Commits a group's offset in a partition, fenced by the owner's token.
-- KEYS[1]  committed offsets (hash group -> offset)
-- KEYS[2]  owner tokens (hash group -> highest fencing token)
-- ARGV[1]  group
-- ARGV[2]  the committing owner's fencing token
-- ARGV[3]  offset of the last event handled
-- Returns  {1, ARGV[3]} when committed; {0, stored token} when a newer
--          owner (higher token) has claimed the partition.
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and tonumber(cur) > tonumber(ARGV[2]) then
  return {0, cur}
end
if not cur or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {1, ARGV[3]}

-- Moves due tasks from a delayed or retry zset to the stream.
-- KEYS[1]  zset (delayed or retry)
-- KEYS[2]  stream
-- ARGV[1]  now, unix ms
-- ARGV[2]  at most this many tasks
-- Returns  the number of tasks moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, t in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 't', t)
  redis.call('ZREM', KEYS[1], t)
end
return #due

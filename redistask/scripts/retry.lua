-- Schedules a failed task's next attempt and retires its entry.
-- KEYS[1]  stream
-- KEYS[2]  retry zset
-- ARGV[1]  consumer group
-- ARGV[2]  entry id
-- ARGV[3]  next attempt, unix ms
-- ARGV[4]  encoded task (attempt and last error updated)
-- Returns  1, or 0 (nothing scheduled) when the entry is gone: another
--          worker reclaimed and finished the task meanwhile.
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1

-- Moves a dead task back to the stream.
-- KEYS[1]  dead-letter stream
-- KEYS[2]  stream
-- ARGV[1]  dead-letter entry id
-- ARGV[2]  encoded task (attempts reset)
-- Returns  the new entry id, or false when the dead entry is gone.
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return false
end
local id = redis.call('XADD', KEYS[2], '*', 't', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[1])
return id

-- Pushes a unique task: enqueued only if its dedupe marker is absent.
-- KEYS[1]  dedupe marker (string)
-- KEYS[2]  stream
-- KEYS[3]  delayed zset
-- ARGV[1]  dedupe window in ms
-- ARGV[2]  encoded task
-- ARGV[3]  run-at unix ms, or 0 to run now
-- Returns  {1, entry id or "delayed"} when enqueued;
--          {0, what the marker holds} when a push within the window won.
local prev = redis.call('GET', KEYS[1])
if prev then
  return {0, prev}
end
local id = 'delayed'
if tonumber(ARGV[3]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
else
  id = redis.call('XADD', KEYS[2], '*', 't', ARGV[2])
end
redis.call('SET', KEYS[1], id, 'PX', ARGV[1])
return {1, id}

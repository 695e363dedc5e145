-- Claims one tick of a periodic task and enqueues it, once across all
-- schedulers.
-- KEYS[1]  tick claim key
-- KEYS[2]  stream
-- ARGV[1]  claim lifetime in ms
-- ARGV[2]  encoded task
-- Returns  the entry id, or false when another scheduler claimed the tick.
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[2], '*', 't', ARGV[2])

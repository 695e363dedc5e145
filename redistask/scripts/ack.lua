-- Acknowledges finished tasks and deletes their entries.
-- KEYS[1]  stream
-- ARGV[1]  consumer group
-- ARGV[2..] entry ids
-- Returns  the number of entries acknowledged.
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return n

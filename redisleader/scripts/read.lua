-- Reads the announced leader and the current lease holder atomically.
-- KEYS[1]  lease key (string)
-- KEYS[2]  announcement hash
-- ARGV     none
-- Returns  {lease holder or false, id, term, since, announced holder}
--          (missing fields are false).
local lease = redis.call('GET', KEYS[1])
local a = redis.call('HMGET', KEYS[2], 'id', 'term', 'since', 'holder')
return {lease, a[1], a[2], a[3], a[4]}

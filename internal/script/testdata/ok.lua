-- Sets KEYS[1] to ARGV[1] and returns the previous value.
-- KEYS[1]  the key
-- ARGV[1]  the new value
-- Returns  the previous value, or false
return redis.call('SET', KEYS[1], ARGV[1], 'GET')

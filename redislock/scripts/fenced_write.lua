-- Writes a fenced resource: accepted only if the token is >= the highest
-- token the resource has accepted.
-- KEYS[1]  resource hash {token, value}
-- ARGV[1]  token
-- ARGV[2]  value
-- Returns  {1, previous token} when written, {0, highest token} when the
--          token is stale; the previous token is 0 for a new resource.
local cur = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
if tonumber(ARGV[1]) < cur then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'value', ARGV[2])
return {1, cur}

-- Writes a fenced resource: accepted only if the token is >= the highest
-- token the resource has accepted. Tokens are compared as decimal strings
-- (shorter is smaller, then byte order), exact for every uint64.
-- KEYS[1]  resource hash {token, value}
-- ARGV[1]  token, canonical decimal (no leading zeros)
-- ARGV[2]  value
-- Returns  {1, previous token} when written, {0, highest token} when the
--          token is stale (tokens as strings; "0" for a new resource);
--          a WRONGTYPE error when the stored token is not a decimal integer.
local cur = redis.call('HGET', KEYS[1], 'token') or '0'
if not string.match(cur, '^%d+$') then
  return redis.error_reply('WRONGTYPE fenced token is not an integer')
end
local t = ARGV[1]
if #t < #cur or (#t == #cur and t < cur) then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'token', t, 'value', ARGV[2])
return {1, cur}

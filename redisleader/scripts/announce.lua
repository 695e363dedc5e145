-- Announces a new leader if its term is newer than the announced one, and
-- appends the announcement to the group's history.
-- KEYS[1]  announcement hash {id, term, since, holder}
-- KEYS[2]  history stream
-- ARGV[1]  leader id
-- ARGV[2]  term
-- ARGV[3]  since, unix milliseconds
-- ARGV[4]  lease holder value
-- ARGV[5]  history length to keep (approximate MAXLEN)
-- Returns  1 when announced, 0 when an equal or newer term was announced.
local cur = tonumber(redis.call('HGET', KEYS[1], 'term') or '0')
if tonumber(ARGV[2]) <= cur then
  return 0
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'term', ARGV[2], 'since', ARGV[3], 'holder', ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1], 'term', ARGV[2], 'since', ARGV[3])
return 1

-- Reads how far a consumer group is behind in one partition, without
-- returning any event's payload.
-- KEYS[1]  the partition's stream
-- KEYS[2]  committed offsets (hash group -> offset)
-- ARGV[1]  group
-- Returns  {committed offset, id of the first event after it, id of the
--          last event, Redis's time in ms}; "" for an id that does not
--          exist (no committed offset: the other ids are "" too).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local committed = redis.call('HGET', KEYS[2], ARGV[1])
if not committed then
  return {'', '', '', now}
end
local nextid, lastid = '', ''
local r = redis.pcall('XRANGE', KEYS[1], '(' .. committed, '+', 'COUNT', 1)
if type(r) == 'table' and r[1] then
  nextid = r[1][1]
end
r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if r[1] then
  lastid = r[1][1]
end
return {committed, nextid, lastid, now}

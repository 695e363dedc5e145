-- Appends an event: once per dedupe window of its ID (when it has one),
-- and only if its fencing token is current (when it is fenced).
-- KEYS[1]  partition stream
-- KEYS[2]  dedupe marker of the event ID (string; unused without an ID)
-- KEYS[3]  the partition's fences (hash: fence name -> highest token)
-- ARGV[1]  dedupe window in ms
-- ARGV[2]  event key
-- ARGV[3]  payload
-- ARGV[4]  event ID, or "" for none (then no dedupe, no i field)
-- ARGV[5]  traceparent, or "" for none (then no tp field)
-- ARGV[6]  tracestate, or "" for none (then no ts field)
-- ARGV[7]  fence name, or "" for none
-- ARGV[8]  fencing token, canonical decimal (ignored without a fence name)
-- Returns  {1, offset} when appended; {0, offset of the first append}
--          when the ID was published within the window (checked before
--          the fence: a retry of an accepted publish is a duplicate, not
--          stale); {-1, highest token} when the token is lower than the
--          highest this partition accepted for the fence (nothing
--          written); a WRONGTYPE error when the stored token is not a
--          decimal integer.
-- Tokens are compared as decimal strings (shorter is smaller, then byte
-- order), exact for every uint64.
if ARGV[4] ~= '' then
  local prev = redis.call('GET', KEYS[2])
  if prev then
    return {0, prev}
  end
end
local fence = ARGV[7]
if fence ~= '' then
  local cur = redis.call('HGET', KEYS[3], fence) or '0'
  if not string.match(cur, '^%d+$') then
    return redis.error_reply('WRONGTYPE fence token is not an integer')
  end
  local t = ARGV[8]
  if #t < #cur or (#t == #cur and t < cur) then
    return {-1, cur}
  end
  redis.call('HSET', KEYS[3], fence, t)
end
local fields = {'k', ARGV[2], 'v', ARGV[3]}
if ARGV[4] ~= '' then
  table.insert(fields, 'i')
  table.insert(fields, ARGV[4])
end
if ARGV[5] ~= '' then
  table.insert(fields, 'tp')
  table.insert(fields, ARGV[5])
end
if ARGV[6] ~= '' then
  table.insert(fields, 'ts')
  table.insert(fields, ARGV[6])
end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
end
return {1, id}

-- Appends an event once per dedupe window of its ID.
-- KEYS[1]  partition stream
-- KEYS[2]  dedupe marker of the event ID (string)
-- ARGV[1]  dedupe window in ms
-- ARGV[2]  event key
-- ARGV[3]  payload
-- ARGV[4]  event ID
-- ARGV[5]  traceparent, or "" for none (then no tp field)
-- ARGV[6]  tracestate, or "" for none (then no ts field)
-- Returns  {1, offset} when appended; {0, offset of the first append}
--          when the ID was published within the window.
local prev = redis.call('GET', KEYS[2])
if prev then
  return {0, prev}
end
local fields = {'k', ARGV[2], 'v', ARGV[3], 'i', ARGV[4]}
if ARGV[5] ~= '' then
  table.insert(fields, 'tp')
  table.insert(fields, ARGV[5])
end
if ARGV[6] ~= '' then
  table.insert(fields, 'ts')
  table.insert(fields, ARGV[6])
end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}

-- Counts the events of a partition after an offset, up to a limit, in
-- pages of at most 1000 entries. Read-only.
-- KEYS[1]  partition stream
-- ARGV[1]  offset (exclusive): count the entries after it
-- ARGV[2]  limit: stop counting there
-- Returns  the number of entries after ARGV[1], at most ARGV[2].
local n, limit, start = 0, tonumber(ARGV[2]), '(' .. ARGV[1]
while n < limit do
  local want = math.min(1000, limit - n)
  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', want)
  n = n + #page
  if #page < want then
    break
  end
  start = '(' .. page[#page][1]
end
return n

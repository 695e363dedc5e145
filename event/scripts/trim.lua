-- Trims a partition by length and age, never past a committed offset.
-- KEYS[1]  partition stream
-- KEYS[2]  committed offsets (hash group -> offset)
-- ARGV[1]  keep at most this many entries ("0": no length limit)
-- ARGV[2]  drop entries below this ID (age limit; "" for none)
-- ARGV[3]  "1" to ignore committed offsets (may drop unconsumed events)
-- Returns  {entries removed, the MINID used or ""}.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function succ(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
end
local minid = nil
if ARGV[2] ~= '' then
  minid = ARGV[2]
end
local maxlen = tonumber(ARGV[1])
if maxlen > 0 then
  local excess = redis.call('XLEN', KEYS[1]) - maxlen
  if excess > 0 then
    local r = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', math.min(excess, 100000) + 1)
    local cand
    if #r > excess then
      cand = r[excess + 1][1]
    else
      cand = succ(r[#r][1])
    end
    if not minid or less(minid, cand) then
      minid = cand
    end
  end
end
if not minid then
  return {0, ''}
end
if ARGV[3] ~= '1' then
  for _, c in ipairs(redis.call('HVALS', KEYS[2])) do
    local keep = succ(c)
    if less(keep, minid) then
      minid = keep
    end
  end
end
return {redis.call('XTRIM', KEYS[1], 'MINID', minid), minid}

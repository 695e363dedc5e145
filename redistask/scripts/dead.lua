-- Moves a task to the dead-letter stream and retires its entry.
-- KEYS[1]  stream
-- KEYS[2]  dead-letter stream
-- ARGV[1]  consumer group
-- ARGV[2]  entry id ("" when the task never had an entry)
-- ARGV[3]  encoded task
-- ARGV[4]  reason: "failed", "unknown-name", "corrupt", "reclaimed"
-- ARGV[5]  last error
-- ARGV[6]  time of death, unix ms
-- ARGV[7]  dead-letter stream length to keep (approximate)
-- With a command run (optional; the task's payload names the run):
-- KEYS[3]  the run's waiting marker, set by the caller for its timeout
-- KEYS[4]  the run's reply list
-- ARGV[8]  the report to push when the caller still waits
-- ARGV[9]  how long to keep the reply list, ms
-- Returns  the dead-letter entry id, or false when the entry is gone
--          (another worker reclaimed and finished the task meanwhile).
if ARGV[2] ~= '' and #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*',
  't', ARGV[3], 'reason', ARGV[4], 'error', ARGV[5], 'died', ARGV[6], 'from', ARGV[2])
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
if KEYS[4] and redis.call('GET', KEYS[3]) then
  redis.call('RPUSH', KEYS[4], ARGV[8])
  redis.call('PEXPIRE', KEYS[4], ARGV[9])
end
return id

-- Extends the lock's TTL while this holder has it. A key that vanished is
-- not set again: an extension can run late (delayed by a pause or the
-- network) and must not resurrect a lock that expired meanwhile.
-- KEYS[1]  lock key
-- ARGV[1]  holder's random value
-- ARGV[2]  new TTL in milliseconds
-- Returns  1 when extended, 0 when the lock is not held by this holder.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

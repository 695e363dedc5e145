-- Releases the lock if this holder has it and notifies waiters; the
-- message is the released value, so a Locker can skip its own releases.
-- KEYS[1]  lock key
-- KEYS[2]  release channel (a shard channel in the lock's slot)
-- ARGV[1]  holder's random value
-- ARGV[2]  "PUBLISH" or "SPUBLISH" (Redis Cluster)
-- Returns  1 when released, 0 when the lock was not held by this holder
--          (expired or taken over); no notification is sent then.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call(ARGV[2], KEYS[2], ARGV[1])
  return 1
end
return 0

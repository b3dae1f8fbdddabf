-- A worker reports how many viewers it has in a show; the room hears the global count
-- once per change, from whichever worker saw it change (the check and the publish are one
-- atomic step, so two workers cannot announce counts out of order).
-- KEYS[1] = the show's presence hash (worker -> "count:ms"), KEYS[2] = the last count
-- announced, KEYS[3] = the show's seq counter.
-- ARGV = worker, local count, now (ms), staleness (ms), channel, event type.
-- A worker that stops reporting (killed) drops out of the sum after the staleness window.
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2] .. ":" .. ARGV[3])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[4]) * 4)
local oldest = tonumber(ARGV[3]) - tonumber(ARGV[4])
local total = 0
local entries = redis.call("HGETALL", KEYS[1])
for i = 1, #entries, 2 do
  local count, at = string.match(entries[i + 1], "(%d+):(%d+)")
  if tonumber(at) < oldest then
    redis.call("HDEL", KEYS[1], entries[i])
  else
    total = total + tonumber(count)
  end
end
if redis.call("GET", KEYS[2]) == tostring(total) then
  return total
end
redis.call("SET", KEYS[2], total, "PX", tonumber(ARGV[4]) * 4)
publish_event(KEYS[3], ARGV[5], ARGV[6], ARGV[3], '{"count":' .. total .. '}', "0")
return total

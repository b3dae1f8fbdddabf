-- Publish one room event with its per-show seq, atomically.
-- INCR and PUBLISH in one script: two workers publishing at once can never put
-- seq 6 on the wire before seq 5.
-- KEYS[1] = the show's seq counter; ARGV = channel, type, at (ms), data (JSON), "1" if the event does not count in seq
-- A missing counter (a new show, or Redis restarted empty) starts at the clock in ms, so
-- seq keeps growing across a Redis restart and every viewer sees a gap and resyncs.
if redis.call("EXISTS", KEYS[1]) == 0 then
  redis.call("SET", KEYS[1], ARGV[3])
end
local seq
if ARGV[5] == "1" then
  seq = tonumber(redis.call("GET", KEYS[1]) or "0")
else
  seq = redis.call("INCR", KEYS[1])
end
local payload = '{"v":1,"type":"' .. ARGV[2] .. '","seq":' .. seq .. ',"at":' .. ARGV[3] ..
  ',"data":' .. ARGV[4] .. '}'
redis.call("PUBLISH", ARGV[1], payload)
return seq

-- Publishing a room event with its per-show seq, atomically: INCR and PUBLISH in one
-- script, so two workers publishing at once can never put seq 6 on the wire before seq 5.
-- This file is a library: the scripts that publish are this text followed by their body.
--
-- A missing counter (a new show, or Redis restarted empty) starts at the clock in ms, so
-- seq keeps growing across a Redis restart and every viewer sees a gap and resyncs.
local function publish_event(seq_key, channel, type, at, data, uncounted)
  if redis.call("EXISTS", seq_key) == 0 then
    redis.call("SET", seq_key, at)
  end
  local seq
  if uncounted == "1" then
    seq = tonumber(redis.call("GET", seq_key) or "0")
  else
    seq = redis.call("INCR", seq_key)
  end
  local payload = '{"v":1,"type":"' .. type .. '","seq":' .. seq .. ',"at":' .. at ..
    ',"data":' .. data .. '}'
  redis.call("PUBLISH", channel, payload)
  return seq
end

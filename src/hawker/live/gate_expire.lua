#!lua
-- Expire holds whose time is up (expires_ms <= now), at most `batch` of them per call so
-- that the end of a big sale does not stall Redis; the caller calls again while it gets a
-- full batch.
-- KEYS: meta, buyers, res, keys, exp (as in gate_reserve.lua)
-- ARGV: now_ms, batch
-- Returns the expired ids, or {-1} when the pool is not loaded.
local meta, buyers, res, exp = KEYS[1], KEYS[2], KEYS[3], KEYS[5]
if redis.call("EXISTS", meta) == 0 then
  return {-1}
end
local due = redis.call("ZRANGEBYSCORE", exp, "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
local out = {}
local units = 0
for _, id in ipairs(due) do
  redis.call("ZREM", exp, id)
  local enc = redis.call("HGET", res, id)
  local st, buyer, q = string.match(enc, "^(%a)|([^|]*)|(%d+)|")
  -- A hold leaves exp when it is confirmed or released, so only holds are found here.
  if st == "h" then
    q = tonumber(q)
    redis.call("HSET", res, id, "e" .. string.sub(enc, 2))
    if redis.call("HINCRBY", buyers, buyer, -q) <= 0 then
      redis.call("HDEL", buyers, buyer)
    end
    units = units + q
    out[#out + 1] = tonumber(id)
  end
end
if units > 0 then
  redis.call("HINCRBY", meta, "held", -units)
  redis.call("HINCRBY", meta, "left", units)
end
return out

#!lua
-- Restock or take stock away: initial and left move together, so sold and held stay and
-- the invariant holds; refused rather than let left go below 0.
-- KEYS: meta (as in gate_reserve.lua)
-- ARGV: delta
-- Returns {code, initial, sold, held, left}: code 1 done, 0 refused (levels unchanged),
-- or {-1} when the pool is not loaded.
local meta = KEYS[1]
local m = redis.call("HMGET", meta, "initial", "sold", "held", "left")
if not m[1] then
  return {-1}
end
local delta = tonumber(ARGV[1])
local initial, sold, held, left = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
if left + delta < 0 then
  return {0, initial, sold, held, left}
end
initial = redis.call("HINCRBY", meta, "initial", delta)
left = redis.call("HINCRBY", meta, "left", delta)
return {1, initial, sold, held, left}

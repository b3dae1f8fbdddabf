#!lua
-- Build a pool from the durable ledger, unless it exists: several processes may find the
-- pool missing at once (start, or Redis restarted empty) and all call this; the first one
-- builds, the others find it built and change nothing. The ledger was checked and counted
-- by the caller (hawker.live.gate.plan_pool).
-- KEYS: meta, buyers, res, keys, exp (as in gate_reserve.lua)
-- ARGV: initial, limit (0: none), left, sold, held, next, number of buyers B,
--       then B pairs (buyer, units), then 4 per reservation: id, stored form, "buyer:key",
--       expires_ms ("" unless held)
-- Returns 1 if it built the pool, 0 if the pool was there.
local meta, buyers, res, keys, exp = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call("EXISTS", meta) == 1 then
  return 0
end
-- Without its meta a pool is gone; remains of it (a partial loss) must not mix in.
redis.call("DEL", buyers, res, keys, exp)
redis.call("HSET", meta, "initial", ARGV[1], "limit", ARGV[2], "left", ARGV[3],
  "sold", ARGV[4], "held", ARGV[5], "next", ARGV[6])
local b = tonumber(ARGV[7])
local i = 8
for _ = 1, b do
  redis.call("HSET", buyers, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call("HSET", res, ARGV[i], ARGV[i + 1])
  redis.call("HSET", keys, ARGV[i + 2], ARGV[i])
  if ARGV[i + 3] ~= "" then
    redis.call("ZADD", exp, ARGV[i + 3], ARGV[i])
  end
  i = i + 4
end
return 1

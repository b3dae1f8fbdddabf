#!lua
-- Move one reservation: confirm (held -> sold), release (held -> released, units back) or
-- refund (sold -> refunded, units back), keeping sold + held + left == initial.
-- KEYS: meta, buyers, res, keys, exp (as in gate_reserve.lua)
-- ARGV: id, event ("confirm" | "release" | "refund")
-- Returns {code, state}: code 1 moved, 0 nothing to do (already there; or a release that
-- finds the hold expired: the units are back either way), -1 not found, -2 pool not loaded,
-- -3 not allowed from `state` (a one-letter state as stored).
local meta, buyers, res, exp = KEYS[1], KEYS[2], KEYS[3], KEYS[5]
if redis.call("EXISTS", meta) == 0 then
  return {-2, ""}
end
local id, event = ARGV[1], ARGV[2]
local enc = redis.call("HGET", res, id)
if not enc then
  return {-1, ""}
end
local st, buyer, q = string.match(enc, "^(%a)|([^|]*)|(%d+)|")
q = tonumber(q)
-- event = {from, to, done states, units back}
local moves = {
  confirm = {"h", "s", {s = true}, false},
  release = {"h", "r", {r = true, e = true}, true},
  refund = {"s", "f", {f = true}, true},
}
local move = moves[event]
if st ~= move[1] then
  if move[3][st] then
    return {0, st}
  end
  return {-3, st}
end
redis.call("HSET", res, id, move[2] .. string.sub(enc, 2))
if st == "h" then
  redis.call("HINCRBY", meta, "held", -q)
  redis.call("ZREM", exp, id)
else
  redis.call("HINCRBY", meta, "sold", -q)
end
if move[2] == "s" then
  redis.call("HINCRBY", meta, "sold", q)
end
if move[4] then
  redis.call("HINCRBY", meta, "left", q)
  if redis.call("HINCRBY", buyers, buyer, -q) <= 0 then
    redis.call("HDEL", buyers, buyer)
  end
end
return {1, st}

#!lua
-- Reserve: the hot path of a flash sale. One call decides one pool's batch of buy attempts,
-- each exactly as hawker.domain.stock.StockPool.reserve would, in the order given.
-- The "#!lua" line makes Redis refuse the whole call up front when it is out of memory,
-- instead of failing a write halfway through and leaving the counters torn.
--
-- KEYS: meta (hash), buyers (hash buyer -> units), res (hash id -> reservation),
--       keys (hash "buyer:key" -> id), exp (zset id by expiry)
-- ARGV[1]: the attempts, "buyer quantity key expires_ms" each, one per line (keys never
--   hold spaces). One string rather than 4 arguments per attempt, and one string back:
--   a client spends far more time packing and parsing many small values than Redis does.
-- A reservation is stored as "state|buyer|quantity|expires_ms|key", state one of h s r e f
-- (held sold released expired refunded); keys never hold "|".
-- Returns "code,id,left,already,limit,expires_ms,state" per attempt, joined by ",":
--   code 0 new hold, 1 replay, 2 sold out, 3 limit reached, 4 key reused for another
--   quantity; limit 0 means none; state 0-4 as h s r e f;
-- or "-1" when the pool is not loaded (nothing was done).
local meta, buyers, res, keys, exp = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local m = redis.call("HMGET", meta, "left", "held", "next", "limit")
if not m[1] then
  return "-1"
end
local left, held, nxt, limit = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
local states = {h = 0, s = 1, r = 2, e = 3, f = 4}
local out = {}
local changed = false
for buyer, quantity, key, until_ms in string.gmatch(ARGV[1], "(%S+) (%S+) (%S+) (%S+)") do
  local q = tonumber(quantity)
  local bk = buyer .. ":" .. key
  local code, id, already, expires, state = 2, 0, 0, "0", 0
  local seen = redis.call("HGET", keys, bk)
  if seen then
    local st, rq, rexp = string.match(redis.call("HGET", res, seen), "^(%a)|[^|]*|(%d+)|(%d+)|")
    if rq == quantity then
      code, id, expires, state = 1, seen, rexp, states[st]
    else
      code = 4
    end
  elseif left > 0 then
    if limit > 0 then
      already = tonumber(redis.call("HGET", buyers, buyer) or "0")
    end
    if limit > 0 and already + q > limit then
      code = 3
    elseif q <= left then
      code, id, expires = 0, nxt, until_ms
      nxt = nxt + 1
      left = left - q
      held = held + q
      already = redis.call("HINCRBY", buyers, buyer, q) - q
      redis.call("HSET", res, id, "h|" .. buyer .. "|" .. quantity .. "|" .. until_ms .. "|" .. key)
      redis.call("HSET", keys, bk, id)
      redis.call("ZADD", exp, until_ms, id)
      changed = true
    else
      already = 0  -- sold out: the buyer's count is not part of that answer
    end
  end
  out[#out + 1] = code .. "," .. id .. "," .. left .. "," .. already .. "," .. limit .. "," ..
    expires .. "," .. state
end
if changed then
  redis.call("HSET", meta, "left", left, "held", held, "next", nxt)
end
return table.concat(out, ",")

"""The Lua side of the Redis Streams EventLog (``redis.py``): one script, dispatched on ARGV[1].

Kept as a Python string so it ships with the package without package-data entries.
"""

SCRIPT = r"""
-- hexlake EventLog on Redis Streams: consumer-group state machine, run atomically per call.
-- ARGV[1] = op, ARGV[2] = key prefix, ARGV[3] = group; the rest depends on op.
-- Per group G (keys "<P>:g:<G>:…"): lease (zset off -> lease deadline), wait (zset off -> visible
-- at; 0 = parked behind its key), out (zset off -> off, every outstanding message), att (hash off ->
-- deliveries), key (hash off -> key), err (hash off -> last error), kc (hash key -> outstanding
-- count: the per-key in-flight guard), dead (hash off -> msgpack dead letter).
-- Offsets are the sequence part of stream ids "0-<off>". Times come from the caller's clock.

local op, P, G = ARGV[1], ARGV[2], ARGV[3]
local S = P .. ':s'
local K = P .. ':g:' .. G .. ':'
local LEASE, WAIT, OUT, ATT, KEY, ERR, KC, DEAD =
  K .. 'lease', K .. 'wait', K .. 'out', K .. 'att', K .. 'key', K .. 'err', K .. 'kc', K .. 'dead'

local function ensure_group(from)
  if redis.call('SISMEMBER', P .. ':groups', G) == 1 then return end
  redis.pcall('XGROUP', 'CREATE', S, G, from, 'MKSTREAM')
  redis.call('SADD', P .. ':groups', G)
end

local function forget(off)
  local key = redis.call('HGET', KEY, off)
  redis.call('ZREM', LEASE, off)
  redis.call('ZREM', WAIT, off)
  redis.call('ZREM', OUT, off)
  redis.call('HDEL', ATT, off)
  redis.call('HDEL', KEY, off)
  redis.call('HDEL', ERR, off)
  redis.call('XACK', S, G, '0-' .. off)
  if key and redis.call('HINCRBY', KC, key, -1) <= 0 then redis.call('HDEL', KC, key) end
end

local function bury(off, att, err, now)
  local entry = redis.call('XRANGE', S, '0-' .. off, '0-' .. off)
  if entry[1] then
    local f = {}
    local kv = entry[1][2]
    for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
    redis.call('HSET', DEAD, off, cmsgpack.pack({tonumber(off), f.k, f.e, att, err, now}))
    redis.call('HSET', DEAD .. 'p', off, f.p)  -- payloads apart: they may not be valid UTF-8
  end
  forget(off)
end

local function numeric(a, b) return tonumber(a) < tonumber(b) end

if op == 'create' then
  ensure_group(ARGV[4])
  return 1
end

if op == 'read' then
  local C, max, now, vt, maxatt, budget =
    ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  ensure_group('0')
  -- expired leases at their last attempt go to the dead letters
  local visible = {}
  for _, off in ipairs(redis.call('ZRANGEBYSCORE', LEASE, '-inf', now)) do
    local att = tonumber(redis.call('HGET', ATT, off))
    if att >= maxatt then
      bury(off, att, 'not acked within its visibility timeout after ' .. att .. ' deliveries', now)
    else
      visible[#visible + 1] = off
    end
  end
  for _, off in ipairs(redis.call('ZRANGEBYSCORE', WAIT, '-inf', now)) do visible[#visible + 1] = off end
  table.sort(visible, numeric)
  local vcount, keys = {}, {}
  for i, off in ipairs(visible) do
    local key = redis.call('HGET', KEY, off)
    keys[i] = key
    vcount[key] = (vcount[key] or 0) + 1
  end
  local out, now_taken, stopped, claimed = {}, {}, {}, {}
  local function lease(off, att)
    redis.call('HSET', ATT, off, att)
    redis.call('ZREM', WAIT, off)
    redis.call('ZADD', LEASE, now + vt, off)
  end
  for i, off in ipairs(visible) do
    if #out / 3 >= max then break end
    local key = keys[i]
    local invisible = tonumber(redis.call('HGET', KC, key) or '0') - vcount[key]
    if stopped[key] or invisible > 0 then
      stopped[key] = true  -- an earlier (or concurrently leased) message of this key is outstanding
    else
      local att = tonumber(redis.call('HGET', ATT, off)) + 1
      lease(off, att)
      redis.call('HDEL', ERR, off)
      now_taken[key] = (now_taken[key] or 0) + 1
      claimed[#claimed + 1] = '0-' .. off
      local entry = redis.call('XRANGE', S, '0-' .. off, '0-' .. off)[1]
      local f = {}
      if entry then
        for j = 1, #entry[2], 2 do f[entry[2][j]] = entry[2][j + 1] end
      end
      out[#out + 1] = off
      out[#out + 1] = att
      out[#out + 1] = {f.k or key, f.e or '', f.p or ''}
    end
  end
  for i = 1, #claimed, 5000 do  -- move ownership in Redis' own pending list (XPENDING stays true)
    redis.call('XCLAIM', S, G, C, 0, unpack(claimed, i, math.min(#claimed, i + 4999)))
  end
  local room = max - #out / 3
  local scanned = 0
  while room > 0 and scanned < budget do
    local res = redis.call('XREADGROUP', 'GROUP', G, C, 'COUNT', math.min(room, budget - scanned),
                           'STREAMS', S, '>')
    if not res or not res[1] or #res[1][2] == 0 then break end
    for _, entry in ipairs(res[1][2]) do
      scanned = scanned + 1
      local off = string.sub(entry[1], 3)
      local f = {}
      local kv = entry[2]
      for j = 1, #kv, 2 do f[kv[j]] = kv[j + 1] end
      local key = f.k
      local pending = tonumber(redis.call('HINCRBY', KC, key, 1)) - 1
      redis.call('HSET', KEY, off, key)
      redis.call('ZADD', OUT, off, off)
      if not stopped[key] and pending == (now_taken[key] or 0) then
        redis.call('HSET', ATT, off, 1)
        redis.call('ZADD', LEASE, now + vt, off)
        now_taken[key] = (now_taken[key] or 0) + 1
        room = room - 1
        out[#out + 1] = off
        out[#out + 1] = 1
        out[#out + 1] = {f.k, f.e, f.p}
      else  -- parked: waits behind an earlier message of its key
        stopped[key] = true
        redis.call('HSET', ATT, off, 0)
        redis.call('ZADD', WAIT, 0, off)
      end
    end
  end
  return out
end

if op == 'ack' then
  for i = 4, #ARGV do
    local off = ARGV[i]
    local att = redis.call('HGET', ATT, off)
    if att and tonumber(att) > 0 then forget(off) end
  end
  return 1
end

if op == 'nack' then
  local err, now, maxatt, base, cap = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
    tonumber(ARGV[8])
  for i = 9, #ARGV do
    local off = ARGV[i]
    local att = tonumber(redis.call('HGET', ATT, off) or '0')
    if att > 0 then
      if att >= maxatt then
        bury(off, att, err, now)
      else
        redis.call('ZREM', LEASE, off)
        redis.call('ZADD', WAIT, now + math.min(base * 2 ^ math.max(att - 1, 0), cap), off)
        redis.call('HSET', ERR, off, err)
      end
    end
  end
  return 1
end

if op == 'trim' then
  -- drop entries every group has finished, keeping the newest ARGV[4] for tail()
  local keep = tonumber(ARGV[4])
  local info = redis.pcall('XINFO', 'STREAM', S)
  if info.err then return 0 end
  local last
  for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = tonumber(string.sub(info[i + 1], 3)) end end
  local limit = last - keep + 1
  for _, gi in ipairs(redis.call('XINFO', 'GROUPS', S)) do
    local name, cursor
    for j = 1, #gi, 2 do
      if gi[j] == 'name' then name = gi[j + 1] end
      if gi[j] == 'last-delivered-id' then cursor = tonumber(string.sub(gi[j + 1], 3)) end
    end
    limit = math.min(limit, cursor + 1)
    local low = redis.call('ZRANGE', P .. ':g:' .. name .. ':out', 0, 0)
    if low[1] then limit = math.min(limit, tonumber(low[1])) end
  end
  if limit <= 1 then return 0 end
  return redis.call('XTRIM', S, 'MINID', '0-' .. limit)
end

return redis.error_reply('unknown op ' .. tostring(op))
"""

__all__ = ["SCRIPT"]

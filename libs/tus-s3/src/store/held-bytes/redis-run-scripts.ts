/**
 * The Lua scripts that keep a Redis run consistent (see RedisHeldBytes for the layout). The bytes themselves never
 * pass through Lua, except small writes: a megabyte argument costs Redis about 1 ms to turn into a Lua string, while
 * a plain SET of a fresh key keeps the request buffer as the value (microseconds). Scripts mostly see the small
 * index. KEEPTTL needs Redis 6.0 or later.
 *
 * Every script that adds or deletes segment bytes also moves the counter KEYS[2] by as much: the bytes held in
 * Redis by all uploads, for the `tus_redis_held_bytes` gauge. (Segments that expire instead of being deleted are
 * not subtracted; the sweeper deletes expired uploads' runs first.) The counter is deleted when it reaches 0, so
 * nothing is left in Redis once nothing is held.
 */

/** Length of the decimal header at the start of a run's index: how many bytes the run holds. */
export const HEADER_BYTES = 16;

/** Deletes a run and its segments (subtracting them from the counter `total`), returning their names. */
const DROP_RUN = `
local function drop_run(run, segment_prefix, total)
  local dropped = {}
  local freed = 0
  local index = redis.call('GET', run)
  if index then
    for nonce, size in string.gmatch(string.sub(index, ${HEADER_BYTES + 1}), '([^,;]+),(%d+);') do
      if nonce ~= '~' then
        redis.call('DEL', segment_prefix .. nonce)
        dropped[#dropped + 1] = nonce
        freed = freed + tonumber(size)
      end
    end
    redis.call('DEL', run)
  end
  if freed > 0 and redis.call('DECRBY', total, freed) <= 0 then redis.call('DEL', total) end
  return dropped
end
`;

/**
 * Adds segment ARGV[2] (ARGV[3] bytes) to run KEYS[1], provided the run holds exactly ARGV[1] bytes, so two writers
 * can never interleave bytes. With ARGV[6] = 'start' the run starts afresh (ARGV[1] = 0), with the expiry ARGV[4]
 * seconds: the index is never refreshed, so it expires before any of its segments. Returns the new length, -1 when
 * the run's length is not the one expected, or -2 when the segment is not there (its SET, sent just before this
 * script in the same round trip, failed).
 */
export const COMMIT_SEGMENT = `${DROP_RUN}
if redis.call('EXISTS', ARGV[5] .. ARGV[2]) == 0 then return -2 end
local run = KEYS[1]
local expected = tonumber(ARGV[1])
if ARGV[6] == 'start' then
  drop_run(run, ARGV[5], KEYS[2])
  redis.call('SET', run, string.format('%0${HEADER_BYTES}d', 0), 'EX', ARGV[4])
else
  local header = redis.call('GETRANGE', run, 0, ${HEADER_BYTES - 1})
  if header == '' or tonumber(header) ~= expected then return -1 end
end
local length = expected + tonumber(ARGV[3])
redis.call('APPEND', run, ARGV[2] .. ',' .. ARGV[3] .. ';')
redis.call('SETRANGE', run, 0, string.format('%0${HEADER_BYTES}d', length))
redis.call('INCRBY', KEYS[2], ARGV[3])
return length`;

/**
 * Appends a small write ARGV[2] to run KEYS[1] (which must hold exactly ARGV[1] bytes) by growing its last segment
 * while that stays below ARGV[5] bytes, else as a new segment named ARGV[4]: tiny PATCHes must not make thousands of
 * segments, each read back with a request of its own. ARGV[3]: segment key prefix, ARGV[6]: segment expiry in
 * seconds. Returns {new length, segment name, where in the segment the bytes went}, or -1.
 */
export const APPEND_SMALL = `
local index = redis.call('GET', KEYS[1])
if not index or tonumber(string.sub(index, 1, ${HEADER_BYTES})) ~= tonumber(ARGV[1]) then return -1 end
local length = tonumber(ARGV[1]) + #ARGV[2]
local header = string.format('%0${HEADER_BYTES}d', length)
redis.call('INCRBY', KEYS[2], #ARGV[2])
local name, size = string.match(index, '([^,;]+),(%d+);$')
if name and tonumber(size) + #ARGV[2] <= tonumber(ARGV[5]) and redis.call('EXISTS', ARGV[3] .. name) == 1 then
  redis.call('APPEND', ARGV[3] .. name, ARGV[2])
  redis.call('EXPIRE', ARGV[3] .. name, ARGV[6])
  local before = string.sub(index, ${HEADER_BYTES + 1}, #index - #name - #size - 2)
  redis.call('SET', KEYS[1], header .. before .. name .. ',' .. (tonumber(size) + #ARGV[2]) .. ';', 'KEEPTTL')
  return {length, name, tonumber(size)}
end
redis.call('SET', ARGV[3] .. ARGV[4], ARGV[2], 'EX', ARGV[6])
redis.call('SET', KEYS[1], header .. string.sub(index, ${HEADER_BYTES + 1}) .. ARGV[4] .. ',' .. #ARGV[2] .. ';', 'KEEPTTL')
return {length, ARGV[4], 0}`;

/**
 * Deletes the leading segments of run KEYS[1] that lie wholly within its first ARGV[1] bytes (bytes now in parts),
 * keeping their length in one `~,<bytes>;` entry so that offsets stay as they were (reading there finds no segment).
 * ARGV[2]: segment key prefix. Returns the names of the segments deleted.
 */
export const TRIM_RUN = `
local index = redis.call('GET', KEYS[1])
if not index then return {} end
local up_to = tonumber(ARGV[1])
local trimmed = 0
local freed = 0
local dropped = {}
local kept = {}
local position = 0
for name, size in string.gmatch(string.sub(index, ${HEADER_BYTES + 1}), '([^,;]+),(%d+);') do
  size = tonumber(size)
  if #kept == 0 and position + size <= up_to then
    if name ~= '~' then
      redis.call('DEL', ARGV[2] .. name)
      dropped[#dropped + 1] = name
      freed = freed + size
    end
    trimmed = trimmed + size
  else
    kept[#kept + 1] = name .. ',' .. size .. ';'
  end
  position = position + size
end
if #dropped > 0 then
  redis.call('SET', KEYS[1], string.sub(index, 1, ${HEADER_BYTES}) .. '~,' .. trimmed .. ';' .. table.concat(kept), 'KEEPTTL')
  if redis.call('DECRBY', KEYS[2], freed) <= 0 then redis.call('DEL', KEYS[2]) end
end
return dropped`;

/** Deletes run KEYS[1] and its segments (ARGV[1]: segment key prefix); returns the segments' names. */
export const DISCARD_RUN = `${DROP_RUN}
return drop_run(KEYS[1], ARGV[1], KEYS[2])`;

/** Records flushed part ARGV[1] (JSON ARGV[2]) in hash KEYS[1], unless run KEYS[2] is gone. */
export const RECORD_IF_RUN_EXISTS = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

/** Counts one background part upload of KEYS[1] as ended. */
export const END_FLUSH = `
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1`;

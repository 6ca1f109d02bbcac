/**
 * The Lua scripts that keep a Redis run consistent (see RedisHeldBytes for the layout). The bytes themselves never
 * pass through Lua: a megabyte argument costs Redis about 1 ms to turn into a Lua string, while a plain SET of a
 * fresh key keeps the request buffer as the value (microseconds). Scripts only see the small index, and copy
 * segments with COPY (Redis 6.2+).
 */

/** Length of the decimal header at the start of a run's index: how many bytes the run holds. */
export const HEADER_BYTES = 16;

/** Deletes a run and its segments, returning their names. Reused by the scripts below. */
const DROP_RUN = `
local function drop_run(run, segment_prefix)
  local dropped = {}
  local index = redis.call('GET', run)
  if index then
    for nonce in string.gmatch(string.sub(index, ${HEADER_BYTES + 1}), '([^,;]+),%d+;') do
      redis.call('DEL', segment_prefix .. nonce)
      dropped[#dropped + 1] = nonce
    end
    redis.call('DEL', run)
  end
  return dropped
end
`;

/**
 * Adds segment ARGV[2] (ARGV[3] bytes) to run KEYS[1], provided the run holds exactly ARGV[1] bytes, so two writers
 * can never interleave bytes. With ARGV[6] = 'start' the run starts afresh (ARGV[1] = 0), with the expiry ARGV[4]
 * seconds: the index is never refreshed, so it expires before any of its segments. Returns the new length, or -1.
 */
export const COMMIT_SEGMENT = `${DROP_RUN}
local run = KEYS[1]
local expected = tonumber(ARGV[1])
if ARGV[6] == 'start' then
  drop_run(run, ARGV[5])
  redis.call('SET', run, string.format('%0${HEADER_BYTES}d', 0), 'EX', ARGV[4])
else
  local header = redis.call('GETRANGE', run, 0, ${HEADER_BYTES - 1})
  if header == '' or tonumber(header) ~= expected then return -1 end
end
local length = expected + tonumber(ARGV[3])
redis.call('APPEND', run, ARGV[2] .. ',' .. ARGV[3] .. ';')
redis.call('SETRANGE', run, 0, string.format('%0${HEADER_BYTES}d', length))
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
 * Starts run KEYS[2] with the ARGV[2] bytes of run KEYS[1] from offset ARGV[1] on: whole segments are copied with
 * COPY, a segment cut by the offset with GETRANGE. ARGV[3]: expiry in seconds (segments get ARGV[6] more),
 * ARGV[4]: segment key prefix, ARGV[5]: prefix for the new segments' names. Returns, per new segment, its name and
 * the name and byte range [first, last) of the segment it was copied from; -1 when the old run lacks those bytes.
 */
export const COPY_TAIL = `${DROP_RUN}
local from = tonumber(ARGV[1])
local length = tonumber(ARGV[2])
local index = redis.call('GET', KEYS[1])
if not index or tonumber(string.sub(index, 1, ${HEADER_BYTES})) < from + length then return -1 end
drop_run(KEYS[2], ARGV[4])
local entries = {}
local copies = {}
local position = 0
for nonce, size in string.gmatch(string.sub(index, ${HEADER_BYTES + 1}), '([^,;]+),(%d+);') do
  size = tonumber(size)
  local first = math.max(from, position) - position
  local last = math.min(from + length, position + size) - position
  if last > first then
    local name = ARGV[5] .. #entries
    local source = ARGV[4] .. nonce
    local target = ARGV[4] .. name
    if first == 0 and last == size then
      if redis.call('COPY', source, target, 'REPLACE') == 0 then return -1 end
    else
      local bytes = redis.call('GETRANGE', source, first, last - 1)
      if #bytes ~= last - first then return -1 end
      redis.call('SET', target, bytes)
    end
    redis.call('EXPIRE', target, tonumber(ARGV[3]) + tonumber(ARGV[6]))
    entries[#entries + 1] = name .. ',' .. (last - first) .. ';'
    copies[#copies + 1] = name
    copies[#copies + 1] = nonce
    copies[#copies + 1] = first
    copies[#copies + 1] = last
  end
  position = position + size
end
redis.call('SET', KEYS[2], string.format('%0${HEADER_BYTES}d', length) .. table.concat(entries), 'EX', ARGV[3])
return copies`;

/** Deletes run KEYS[1] and its segments (ARGV[1]: segment key prefix); returns the segments' names. */
export const DISCARD_RUN = `${DROP_RUN}
return drop_run(KEYS[1], ARGV[1])`;

/** Records flushed part ARGV[1] (JSON ARGV[2]) in hash KEYS[1], unless run KEYS[2] is gone. */
export const RECORD_IF_RUN_EXISTS = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

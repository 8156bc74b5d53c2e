//! The Lua scripts that keep each multi-key step atomic on one server and on one
//! cluster slot: the per-request checks, the allowlist, refresh rotation, revocations,
//! throttle counters, session touches, the second factor (TOTP enrolments, recovery
//! codes, MFA challenges) and passkeys (registration, sign counters, removal).

use redis::Script;

pub(crate) const CHECK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('HGET', KEYS[2], 'revoked') == '1' then return 1 end
local cut = redis.call('GET', KEYS[3])
if cut and tonumber(ARGV[1]) < tonumber(cut) then return 1 end
return 0
";

/// KEYS: allow hash; ARGV: field, "exp|meta", exp_ms, now. Prunes expired entries.
pub(crate) const LIST: &str = r"
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if exp and exp <= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
";

/// KEYS: allow hash, jti, fam, cut; ARGV: field, iat, now.
pub(crate) const CHECK_LISTED: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 1 end
local exp = tonumber(string.match(v, '^(%d+)|'))
if not exp or exp <= tonumber(ARGV[3]) then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if redis.call('HGET', KEYS[3], 'revoked') == '1' then return 1 end
local cut = redis.call('GET', KEYS[4])
if cut and tonumber(ARGV[2]) < tonumber(cut) then return 1 end
return 0
";

pub(crate) const START: &str = r"
redis.call('HSET', KEYS[1], 'current', ARGV[2], 'created', ARGV[4], 'last_used', ARGV[4], 'revoked', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIREAT', KEYS[2], ARGV[3]) end
return 1
";

/// KEYS: fam, fams, allow, stream (on one server; on a cluster the caller appends);
/// ARGV: sid, jti, next_jti, next_exp_ms, now, sub, maxlen. Returns {code, family expiry
/// in ms}: 0 unknown, 1 rotated, 2 reuse (the family revoked now), 3 reuse of a family
/// revoked before.
pub(crate) const ROTATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local f = redis.call('HMGET', KEYS[1], 'current', 'revoked')
if f[2] == '1' or f[1] ~= ARGV[2] then
  local e = redis.call('PEXPIRETIME', KEYS[1])
  local code = 3
  if f[2] ~= '1' then
    code = 2
    if KEYS[4] then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'k', 'f', 's', ARGV[6], 'i', ARGV[1], 'e', e)
    end
  end
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return {code, e}
end
redis.call('HSET', KEYS[1], 'current', ARGV[3], 'last_used', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIREAT', KEYS[2], ARGV[4]) end
return {1, 0}
";

/// KEYS: fam, fams, allow, stream (on one server; on a cluster the caller appends);
/// ARGV: sid, until_ms, sub, maxlen.
pub(crate) const REVOKE_FAMILY: &str = r"
if KEYS[4] then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'k', 'f', 's', ARGV[3], 'i', ARGV[1], 'e', ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[1], 'revoked', '1')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
";

/// KEYS: cut, fams, then fam_i, allow_i per family, then the stream (on one server; on a
/// cluster the caller appends); ARGV: at, until_ms, n, sub, maxlen, sid_1..sid_n.
/// Returns the cut-off now in force, or -1 when the family set changed since it was read
/// (the caller re-reads and retries).
pub(crate) const REVOKE_USER: &str = r"
local n = tonumber(ARGV[3])
local stream = KEYS[3 + 2 * n]
local members = redis.call('SMEMBERS', KEYS[2])
if #members ~= n then return -1 end
local want = {}
for i = 1, n do want[ARGV[5 + i]] = true end
for _, m in ipairs(members) do if not want[m] then return -1 end end
local cut = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cut then cut = tonumber(ARGV[1]) end
redis.call('SET', KEYS[1], cut, 'PXAT', ARGV[2])
if stream then
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], '*', 'k', 'u', 's', ARGV[4], 'a', cut, 'e', ARGV[2])
  for i = 1, n do
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], '*', 'k', 'f', 's', ARGV[4], 'i', ARGV[5 + i], 'e', ARGV[2])
  end
end
for i = 3, 2 + 2 * n, 2 do
  redis.call('HSET', KEYS[i], 'revoked', '1')
  if redis.call('PEXPIRETIME', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[i], ARGV[2]) end
  redis.call('DEL', KEYS[i + 1])
end
redis.call('DEL', KEYS[2])
return cut
";

pub(crate) const INCREMENT: &str = r"
local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {c, redis.call('PEXPIRETIME', KEYS[1])}
";

// Check the limit and count in one step (`Limit::wait` in auth-core is the same rule).
// ARGV: now (s), window (ms), max, backoff (s), backoff_max (s).
pub(crate) const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'count', 'last')
if v[1] then
  local count = tonumber(v[1])
  local max = tonumber(ARGV[3])
  if count >= max then
    local backoff = math.min(tonumber(ARGV[4]) * (2 ^ math.min(count - max, 32)), tonumber(ARGV[5]))
    local locked = tonumber(v[2] or now) + backoff
    local pe = redis.call('PEXPIRETIME', KEYS[1])
    if pe > 0 then locked = math.min(locked, math.ceil(pe / 1000)) end
    if locked > now then return {0, locked - now} end
  end
end
local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, c, redis.call('PEXPIRETIME', KEYS[1])}
";

pub(crate) const RELEASE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c = redis.call('HINCRBY', KEYS[1], 'count', -1)
if c <= 0 then redis.call('DEL', KEYS[1]) end
return c
";

pub(crate) const GET_COUNTER: &str = r"
local v = redis.call('HMGET', KEYS[1], 'count', 'last')
if not v[1] then return false end
return {tonumber(v[1]), tonumber(v[2]), redis.call('PEXPIRETIME', KEYS[1])}
";

pub(crate) const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1], 'expires_at', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// KEYS: totp; ARGV: sealed. A pending enrolment, replacing a pending one; 0 (nothing
/// changed) when an active one exists.
pub(crate) const BEGIN_TOTP: &str = r"
if redis.call('HGET', KEYS[1], 'active') == '1' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sealed', ARGV[1], 'active', '0', 'last_step', '0')
return 1
";

/// KEYS: totp, recovery (one slot: the user's); ARGV: step, digest_1..digest_n.
/// Activates a pending enrolment with `step` used and the recovery set replaced; 0 when
/// there is no pending enrolment.
pub(crate) const ACTIVATE_TOTP: &str = r"
if redis.call('HGET', KEYS[1], 'active') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'active', '1', 'last_step', ARGV[1])
redis.call('DEL', KEYS[2])
for i = 2, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return 1
";

/// KEYS: totp; ARGV: step. Records `step` if the enrolment is active and `step` is later
/// than the last one; 0 otherwise (a replay, or no active enrolment). Steps are compared
/// as decimal text (the store writes them from a `u64`, without leading zeros), exact
/// beyond Lua's 2^53.
pub(crate) const USE_TOTP_STEP: &str = r"
local v = redis.call('HMGET', KEYS[1], 'active', 'last_step')
if v[1] ~= '1' then return 0 end
local step, last = ARGV[1], v[2] or '0'
if #step < #last or (#step == #last and step <= last) then return 0 end
redis.call('HSET', KEYS[1], 'last_step', step)
return 1
";

/// KEYS: totp, recovery. Removes both; 1 when there was an enrolment.
pub(crate) const REMOVE_TOTP: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return n
";

/// KEYS: challenge; ARGV: user, expires_at_ms. A new challenge (no failures yet), gone at
/// its expiry.
pub(crate) const START_CHALLENGE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'failures', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
";

/// KEYS: challenge; ARGV: max_failures. Counts a failure against a live challenge and
/// spends it at the maximum; 1 when it is still live afterwards.
pub(crate) const FAIL_CHALLENGE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local f = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if f >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 0
end
return 1
";

/// KEYS: challenge. Spends a live challenge: its user, to this caller only.
pub(crate) const FINISH_CHALLENGE: &str = r"
local u = redis.call('HGET', KEYS[1], 'user')
if u then redis.call('DEL', KEYS[1]) end
return u
";

/// KEYS: passkey, then (on one server; on a cluster the caller runs `INDEX_PASSKEY`
/// after) the user's index and its sequence; ARGV: user, data, counter, created,
/// credential id. Stores a new passkey; 0 (nothing changed) when the id is taken.
pub(crate) const ADD_PASSKEY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'data', ARGV[2], 'counter', ARGV[3], 'created', ARGV[4])
if KEYS[2] then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[5]) end
return 1
";

/// KEYS: the user's passkey index, its sequence (one slot: the user's); ARGV: credential
/// id. Appends the id in registration order (score: the next number of the sequence).
pub(crate) const INDEX_PASSKEY: &str = r"
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
return 1
";

/// KEYS: passkey; ARGV: counter, data. Records a use when the counter moved forward, or
/// stays 0 on both sides (an authenticator without a counter); 0 (nothing changed)
/// otherwise or when there is no such passkey. Counters are `u32`, exact in Lua.
pub(crate) const USE_PASSKEY: &str = r"
local stored = redis.call('HGET', KEYS[1], 'counter')
if not stored then return 0 end
local new, old = tonumber(ARGV[1]), tonumber(stored)
if not new or not old then return 0 end
if new > old or (new == 0 and old == 0) then
  redis.call('HSET', KEYS[1], 'counter', ARGV[1], 'data', ARGV[2])
  return 1
end
return 0
";

/// KEYS: passkey, then (on one server; on a cluster the caller runs `UNINDEX_PASSKEY`
/// after) the user's index and its sequence; ARGV: user, credential id. Removes the
/// passkey if it is the user's; 0 (nothing changed) otherwise.
pub(crate) const REMOVE_PASSKEY: &str = r"
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if KEYS[2] then
  redis.call('ZREM', KEYS[2], ARGV[2])
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[3]) end
end
return 1
";

/// KEYS: the user's passkey index, its sequence; ARGV: credential id. Drops the id from
/// the index (and the sequence with the last id).
pub(crate) const UNINDEX_PASSKEY: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return 1
";

/// Every script, loaded once per store (`EVALSHA`, falling back to `EVAL`).
pub(crate) struct Scripts {
    pub(crate) check: Script,
    pub(crate) check_listed: Script,
    pub(crate) list: Script,
    pub(crate) start: Script,
    pub(crate) rotate: Script,
    pub(crate) revoke_family: Script,
    pub(crate) revoke_user: Script,
    pub(crate) increment: Script,
    pub(crate) reserve: Script,
    pub(crate) release: Script,
    pub(crate) get_counter: Script,
    pub(crate) touch: Script,
    pub(crate) begin_totp: Script,
    pub(crate) activate_totp: Script,
    pub(crate) use_totp_step: Script,
    pub(crate) remove_totp: Script,
    pub(crate) start_challenge: Script,
    pub(crate) fail_challenge: Script,
    pub(crate) finish_challenge: Script,
    pub(crate) add_passkey: Script,
    pub(crate) index_passkey: Script,
    pub(crate) use_passkey: Script,
    pub(crate) remove_passkey: Script,
    pub(crate) unindex_passkey: Script,
}

impl Scripts {
    /// Every script of this module.
    pub(crate) fn new() -> Self {
        Self {
            check: Script::new(CHECK),
            check_listed: Script::new(CHECK_LISTED),
            list: Script::new(LIST),
            start: Script::new(START),
            rotate: Script::new(ROTATE),
            revoke_family: Script::new(REVOKE_FAMILY),
            revoke_user: Script::new(REVOKE_USER),
            increment: Script::new(INCREMENT),
            reserve: Script::new(RESERVE),
            release: Script::new(RELEASE),
            get_counter: Script::new(GET_COUNTER),
            touch: Script::new(TOUCH),
            begin_totp: Script::new(BEGIN_TOTP),
            activate_totp: Script::new(ACTIVATE_TOTP),
            use_totp_step: Script::new(USE_TOTP_STEP),
            remove_totp: Script::new(REMOVE_TOTP),
            start_challenge: Script::new(START_CHALLENGE),
            fail_challenge: Script::new(FAIL_CHALLENGE),
            finish_challenge: Script::new(FINISH_CHALLENGE),
            add_passkey: Script::new(ADD_PASSKEY),
            index_passkey: Script::new(INDEX_PASSKEY),
            use_passkey: Script::new(USE_PASSKEY),
            remove_passkey: Script::new(REMOVE_PASSKEY),
            unindex_passkey: Script::new(UNINDEX_PASSKEY),
        }
    }
}

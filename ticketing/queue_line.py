"""The waiting room's line: where it lives and the atomic steps on it.

Two backends with one contract (tests/test_queue_line_contract.py runs the same
suite on both): ``RedisQueueLine`` (one Lua script per step, every key of an
event in one Redis Cluster slot: ``<prefix>:{queue:<event_id>}:<name>``) and
``MemoryQueueLine`` (process memory behind a lock: the embedded defaults, where
the scheduler runs inside the one server process). Joining and reading a place
touch no database row: the room's configuration is copied here by
ticketing/services/waiting_room.py whenever staff change it.

The line (docs/decisions/2026-11-30-waiting-room.md):
- a sorted set of user ids. A buyer who joins before the sale starts gets a
  score in [0, 1) derived from the room's secret and the user id (so the order
  at the opening is random, and joining again, from any socket, draws nothing
  new); a later buyer gets 1 + a counter, behind everyone before.
- Admission pops from the front only, so a buyer's place in the whole sale's
  line never changes once the sale started: ``number = served + rank + 1``,
  where ``served`` counts every pop. A client that knows its number and hears
  ``served`` (the queue stream) knows its position without asking.
- A buyer who leaves stays in the set, marked; admission pops and skips them
  (nobody's number changes, nobody waits for them).
- Admission (the scheduler, every WAITING_ROOM_ADMIT_SECONDS) is one script: it
  expires unused passes (each gives its place back to the line), adds rate x elapsed time to an
  allowance kept with the line (capped at BURST_SECONDS of rate) and pops that
  many. Two schedulers calling it at once share one allowance: nobody is
  admitted twice, and the rate holds with any number of schedulers.

A buyer's state (``state`` hash): ``w`` waiting, ``l`` left, ``a:<n>:<t>``
admitted with pass number n (= the buyer's number in line) valid until t,
``u:<n>:<t>`` pass used (seats held) and valid for buying until t, ``x`` pass
expired unused, ``d`` used and its time is over.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

from core.redis import get_redis, key

# The allowance never holds more than this many seconds of admissions, so a line
# that was empty for a while does not let a crowd in at once when it fills.
BURST_SECONDS = 5
# One admission call pops at most this many times its batch (leavers included).
MAX_POPS_FACTOR = 5
# Latency samples kept per event for the adaptive rate.
LATENCY_SAMPLES = 2000
# The keys of an event's line expire this long after its last change.
KEY_TTL_SECONDS = 7 * 24 * 3600

WAITING, LEFT, ADMITTED, IN_USE, EXPIRED, DONE = "waiting", "left", "admitted", "in_use", \
    "expired", "done"
_STATE_NAMES = {"w": WAITING, "l": LEFT, "a": ADMITTED, "u": IN_USE, "x": EXPIRED, "d": DONE}


@dataclass(frozen=True)
class LineConfig:
    """What the line needs to know of the room (copied from WaitingRoom)."""

    status: str  # open | paused | closed
    opens_at: float  # epoch seconds: joins accepted from
    sale_at: float  # epoch seconds: admission starts; joins before are shuffled
    rate_per_minute: float
    pass_seconds: int
    use_seconds: int  # how long a used pass lets its holder buy
    secret: str
    public: bool = True  # the event is visible to everyone (else staff only: a draft)


@dataclass(frozen=True)
class Place:
    """One buyer's standing, and the line's, read in one step."""

    status: str  # the room's status, "none" when the line has no configuration
    opens_at: float | None
    sale_at: float | None
    rate_per_minute: float
    length: int  # buyers waiting (those who left not counted)
    served: int  # pops from the front so far
    state: str | None  # WAITING, ... ; None: not in this line
    number: int | None  # place in the sale's whole line (known once the sale started)
    pass_deadline: float | None  # admitted / in use: until when the pass is good
    now: float
    public: bool = True  # the event is visible to everyone (else to staff only)

    @property
    def position(self) -> int | None:
        if self.state == WAITING and self.number is not None:
            return max(self.number - self.served, 1)
        return None


@dataclass(frozen=True)
class JoinResult:
    # joined | kept | admitted | in_use | not_configured | closed | not_open | mailbox_taken
    # | hidden (the event is not public and the buyer not staff)
    outcome: str
    opens_at: float | None = None
    # The buyer's place read in the same step (joined, kept, admitted, in_use), when
    # the store does that (Redis: one round trip per join); None: ask place().
    place: Place | None = None


@dataclass(frozen=True)
class Admission:
    admitted: list[int]  # user ids, in line order
    skipped: int  # left the line before their turn
    expired: int  # passes that expired unused (their places went to the next in line)
    served: int
    # True for the one call that first ran after the sale's start: from then on every
    # number is final (the early arrivals' order is drawn), so phones re-read theirs.
    opened: bool = False


@dataclass
class LineStats:
    status: str
    length: int
    served: int
    joined: int
    admitted: int
    passes_out: int  # admitted, pass neither used nor expired yet
    used: int
    purchases: int
    expired: int
    left: int
    rate_per_minute: float

    @property
    def abandoned(self) -> int:
        """Buyers who gave up: passes that expired unused, and places left."""
        return self.expired + self.left

    def as_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in self.__dataclass_fields__},
                "abandoned": self.abandoned}


class QueueLine(Protocol):
    def configure(self, event_id: int, config: LineConfig) -> None: ...
    def set_rate(self, event_id: int, rate_per_minute: float) -> None: ...
    def drop(self, event_id: int) -> None: ...
    def join(self, event_id: int, user_id: int, mailbox: str, *,
             staff: bool = False) -> JoinResult: ...
    def leave(self, event_id: int, user_id: int) -> bool: ...
    def place(self, event_id: int, user_id: int | None) -> Place: ...
    def admit(self, event_id: int, *, max_batch: int) -> Admission: ...
    def pass_use(self, event_id: int, user_id: int, number: int) -> str: ...
    def pass_purchased(self, event_id: int, user_id: int) -> None: ...
    def stats(self, event_id: int) -> LineStats: ...
    def admitted_log(self, event_id: int) -> list[int]: ...
    def latency_add(self, event_id: int, samples: list[tuple[float, float]]) -> None: ...
    def latency_since(self, event_id: int, since: float) -> list[float]: ...
    def claim_tick(self, event_id: int, name: str, seconds: float) -> bool: ...
    def hold_tick(self, event_id: int, name: str, seconds: float) -> None: ...


def early_score(secret: str, user_id: int) -> float:
    """The score in [0, 1) of a buyer who joined before the sale started: the same
    function as the Lua script's (SHA-1 of secret:user, first 52 bits)."""
    # SHA-1 because Lua has redis.sha1hex: an ordering, not a security boundary (the
    # secret keeps it unpredictable).
    digest = hashlib.sha1(f"{secret}:{user_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:13], 16) / 2**52


def _parse_pass(raw: str) -> tuple[str, int, float]:
    kind, number, deadline = raw.split(":")
    return kind, int(number), float(deadline)


# --- Redis ------------------------------------------------------------------------

# The caller's clock, as the last argument: each worker's (NTP) clock, as the streams'
# timestamps are; tests drive time through it.
_NOW = """
local now = tonumber(ARGV[#ARGV])
"""

# The line and one buyer's place (user '' for nobody): what _PLACE returns, and what
# _JOIN returns after its outcome.
_PLACE_FUNCTION = """
local function place(conf_key, line_key, state_key, stats_key, user)
  local conf = redis.call('HMGET', conf_key, 'status', 'opens_at', 'sale_at', 'rate', 'public')
  local stats = redis.call('HMGET', stats_key, 'served', 'left_pending', 'join_clock')
  local at = math.max(now, tonumber(stats[3] or 0))  -- the joins' clock: never behind it
  local length = redis.call('ZCARD', line_key) - tonumber(stats[2] or 0)
  local st, rank = false, false
  if user ~= '' then
    st = redis.call('HGET', state_key, user)
    if st == 'w' or st == 'l' then rank = redis.call('ZRANK', line_key, user) end
  end
  return {conf[1] or 'none', conf[2] or '', conf[3] or '', conf[4] or '0', length,
          stats[1] or '0', st or '', rank or -1, string.format('%.17g', at), conf[5] or '1'}
end
"""

# KEYS: conf, line, state, mailbox, stats, counter, deadlines.
# ARGV: user, mailbox, ttl, staff ('1' or '0').
# -> {outcome, opens_at or ''} and, when the buyer has a place, that place (_PLACE's
# fields) read in the same step: a join is one round trip.
_JOIN = _NOW + _PLACE_FUNCTION + """
local function join()
-- The joins' clock never goes back: workers' clocks differ a little and a script may
-- run after one that read a later time. Without this a join at the sale's start
-- could be judged "before" (no number) after another was judged "after" (a place
-- behind everyone): every join after the first one past the start is past it too.
local seen = tonumber(redis.call('HGET', KEYS[5], 'join_clock') or 0)
if seen > now then
  now = seen
else
  redis.call('HSET', KEYS[5], 'join_clock', string.format('%.17g', now))
end
local conf = redis.call('HMGET', KEYS[1], 'status', 'opens_at', 'sale_at', 'secret', 'public')
if not conf[1] then return {'not_configured'} end
if conf[5] == '0' and ARGV[4] ~= '1' then return {'hidden'} end
if conf[1] == 'closed' then return {'closed'} end
if now < tonumber(conf[2]) then return {'not_open', conf[2]} end
local user = ARGV[1]
local st = redis.call('HGET', KEYS[3], user)
if st == 'w' then return {'kept'} end
if st then
  local kind = string.sub(st, 1, 1)
  if kind == 'a' or kind == 'u' then
    local deadline = tonumber(string.match(st, ':([^:]+)$'))
    if deadline > now then return {kind == 'a' and 'admitted' or 'in_use'} end
    -- Ran out before the tick marked it: the tick still counts it (and, for an
    -- unused pass, gives its place to the next in line).
    if kind == 'a' then redis.call('HINCRBY', KEYS[5], 'expired_pending', 1) end
    redis.call('HSET', KEYS[3], user, kind == 'a' and 'x' or 'd')
    redis.call('ZREM', KEYS[7], user)
  end
end
-- One place per mailbox, coming back to a kept place included: the place was given
-- up, and another account of the mailbox may have taken one since.
if ARGV[2] ~= '' then
  local owner = redis.call('HGET', KEYS[4], ARGV[2])
  if owner and owner ~= user then
    local other = redis.call('HGET', KEYS[3], owner)
    if other then
      local kind = string.sub(other, 1, 1)
      if kind == 'w' or kind == 'a' or kind == 'u' then return {'mailbox_taken'} end
    end
  end
  redis.call('HSET', KEYS[4], ARGV[2], user)
end
if st == 'l' and redis.call('ZSCORE', KEYS[2], user) then
  redis.call('HSET', KEYS[3], user, 'w')
  redis.call('HINCRBY', KEYS[5], 'left_pending', -1)
  redis.call('HINCRBY', KEYS[5], 'left', -1)
  return {'kept'}
end
local score
-- Early (random) scores only while nobody got a first-come place nor was served: a
-- sale moved later must not put newcomers ahead of who came before.
if now < tonumber(conf[3]) and not redis.call('GET', KEYS[6])
    and tonumber(redis.call('HGET', KEYS[5], 'served') or 0) == 0 then
  score = tonumber(string.sub(redis.sha1hex(conf[4] .. ':' .. user), 1, 13), 16) / 4503599627370496
else
  score = 1 + redis.call('INCR', KEYS[6])
end
redis.call('ZADD', KEYS[2], string.format('%.17g', score), user)
redis.call('HSET', KEYS[3], user, 'w')
redis.call('HINCRBY', KEYS[5], 'joined', 1)
for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return {'joined'}
end

local result = join()
local outcome = result[1]
local out = {outcome, result[2] or ''}
if outcome == 'joined' or outcome == 'kept' or outcome == 'admitted' or outcome == 'in_use' then
  for _, value in ipairs(place(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[1])) do
    out[#out + 1] = value
  end
end
return out
"""

# KEYS: line, state, stats. ARGV: user.
_LEAVE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'w' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'l')
redis.call('HINCRBY', KEYS[3], 'left_pending', 1)
redis.call('HINCRBY', KEYS[3], 'left', 1)
return 1
"""

# KEYS: conf, line, state, stats. ARGV: user ('' for nobody).
_PLACE = _NOW + _PLACE_FUNCTION + """
return place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
"""

# KEYS: conf, line, state, deadlines, stats, log. ARGV: max batch, ttl.
_ADMIT = _NOW + """
local conf = redis.call('HMGET', KEYS[1], 'status', 'sale_at', 'rate', 'pass_seconds')
if not conf[1] or conf[1] == 'closed' then
  return {0, 0, tonumber(redis.call('HGET', KEYS[5], 'served') or 0), {}, 0}
end
local expired, credit = 0, 0
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
for _, u in ipairs(due) do
  local st = redis.call('HGET', KEYS[3], u)
  if st and string.sub(st, 1, 1) == 'a' then
    redis.call('HSET', KEYS[3], u, 'x')
    expired = expired + 1
  elseif st and string.sub(st, 1, 1) == 'u' then
    redis.call('HSET', KEYS[3], u, 'd')
  end
  redis.call('ZREM', KEYS[4], u)
end
local pending = tonumber(redis.call('HGET', KEYS[5], 'expired_pending') or 0)
if pending > 0 then
  expired = expired + pending
  redis.call('HSET', KEYS[5], 'expired_pending', 0)
end
if expired > 0 then redis.call('HINCRBY', KEYS[5], 'expired', expired) end
local stats = redis.call('HMGET', KEYS[5], 'last', 'allowance', 'served')
local last = tonumber(stats[1] or now)
local allowance = tonumber(stats[2] or 0) + expired
local served = tonumber(stats[3] or 0)
local admitted, skipped, opened = {}, 0, 0
if now >= tonumber(conf[2]) and redis.call('HSETNX', KEYS[5], 'opened', 1) == 1 then
  opened = 1  -- the first call after the sale's start: numbers are final from now on
end
if conf[1] == 'open' and now >= tonumber(conf[2]) then
  local rate = tonumber(conf[3])
  local burst = math.max(1, rate / 60 * BURST_SECONDS)
  local elapsed = math.max(0, now - math.max(last, tonumber(conf[2])))
  allowance = math.min(allowance + elapsed * rate / 60, burst + expired)
  local want = math.min(math.floor(allowance + EPSILON), tonumber(ARGV[1]))
  local ttl = tonumber(conf[4])
  -- Leavers are popped and skipped without counting, but never more than this many
  -- pops per call: one script stays short however many left.
  local pops_left = tonumber(ARGV[1]) * MAX_POPS_FACTOR
  while #admitted < want and pops_left > 0 do
    local popped = redis.call('ZPOPMIN', KEYS[2], math.min(want - #admitted, pops_left))
    pops_left = pops_left - #popped / 2
    if #popped == 0 then break end
    for i = 1, #popped, 2 do
      local u = popped[i]
      served = served + 1
      if redis.call('HGET', KEYS[3], u) == 'l' then
        skipped = skipped + 1
      else
        local deadline = now + ttl
        redis.call('HSET', KEYS[3], u, 'a:' .. served .. ':' .. string.format('%.17g', deadline))
        redis.call('ZADD', KEYS[4], string.format('%.17g', deadline), u)
        redis.call('RPUSH', KEYS[6], u)
        admitted[#admitted + 1] = u
      end
    end
  end
  allowance = allowance - #admitted
  if redis.call('ZCARD', KEYS[2]) == 0 then allowance = math.min(allowance, burst) end
  if skipped > 0 then
    redis.call('HINCRBY', KEYS[5], 'left_pending', -skipped)
  end
  redis.call('HINCRBY', KEYS[5], 'admitted', #admitted)
end
-- Formatted in full (%.17g reads back as the same double): tostring keeps 14 digits,
-- which cuts an epoch to 0.1 ms and loses a fraction of an admission on every tick.
-- The line's clock never goes back: a scheduler whose clock is behind another's would
-- otherwise hand the one ahead the same seconds again.
redis.call('HSET', KEYS[5], 'last', string.format('%.17g', math.max(last, now)),
           'allowance', string.format('%.17g', allowance), 'served', served)
for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return {skipped, expired, served, admitted, opened}
""".replace("BURST_SECONDS", str(BURST_SECONDS)).replace("EPSILON", "1e-6").replace(
    "MAX_POPS_FACTOR", str(MAX_POPS_FACTOR))

# KEYS: conf, state, deadlines, stats. ARGV: user, pass number.
_PASS_USE = _NOW + """
local st = redis.call('HGET', KEYS[2], ARGV[1])
if not st then return 'none' end
local kind, number, deadline = string.match(st, '^(%a):(%d+):(.+)$')
if not kind then
  if st == 'x' or st == 'd' then return 'expired' end
  return 'none'
end
if number ~= ARGV[2] then return 'stale' end
if tonumber(deadline) <= now then return 'expired' end
if kind == 'a' then
  local until_ = now + tonumber(redis.call('HGET', KEYS[1], 'use_seconds') or 0)
  redis.call('HSET', KEYS[2], ARGV[1], 'u:' .. number .. ':' .. string.format('%.17g', until_))
  redis.call('ZADD', KEYS[3], string.format('%.17g', until_), ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'used', 1)
end
return 'ok'
"""

# KEYS: state, stats, purchasers. ARGV: user, ttl.
_PURCHASED = """
if redis.call('SADD', KEYS[3], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'purchases', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return 1
"""

# KEYS: line, stats.
_STATS = """
local s = redis.call('HMGET', KEYS[2], 'served', 'joined', 'admitted', 'used', 'purchases',
                     'expired', 'left', 'left_pending')
return {redis.call('ZCARD', KEYS[1]) - tonumber(s[8] or 0), s[1] or '0', s[2] or '0',
        s[3] or '0', s[4] or '0', s[5] or '0', s[6] or '0', s[7] or '0'}
"""


def _keys(event_id: int, *names: str) -> list[str]:
    tag = f"{{queue:{event_id}}}"  # one hash tag: one Redis Cluster slot per event
    return [key(tag, name) for name in names]


class RedisQueueLine:
    def __init__(self, client, clock=time.time) -> None:
        self.client = client
        self.clock = clock
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._place = client.register_script(_PLACE)
        self._admit = client.register_script(_ADMIT)
        self._pass_use = client.register_script(_PASS_USE)
        self._purchased = client.register_script(_PURCHASED)
        self._stats = client.register_script(_STATS)

    ALL = ("conf", "line", "state", "mailbox", "stats", "counter", "deadlines", "log",
           "purchasers", "latency", "tick")

    def configure(self, event_id: int, config: LineConfig) -> None:
        conf = _keys(event_id, "conf")[0]
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(conf, mapping={
            "status": config.status, "opens_at": repr(config.opens_at),
            "sale_at": repr(config.sale_at), "rate": repr(float(config.rate_per_minute)),
            "pass_seconds": config.pass_seconds, "use_seconds": config.use_seconds,
            "secret": config.secret, "public": "1" if config.public else "0",
        })
        pipe.expire(conf, KEY_TTL_SECONDS)
        pipe.execute()

    def set_rate(self, event_id: int, rate_per_minute: float) -> None:
        self.client.hset(_keys(event_id, "conf")[0], "rate", repr(float(rate_per_minute)))

    def drop(self, event_id: int) -> None:
        self.client.delete(*_keys(event_id, *self.ALL))

    def join(self, event_id: int, user_id: int, mailbox: str, *,
             staff: bool = False) -> JoinResult:
        outcome, opens_at, *here = self._join(
            keys=_keys(event_id, "conf", "line", "state", "mailbox", "stats", "counter",
                       "deadlines"),
            args=[user_id, mailbox, KEY_TTL_SECONDS, "1" if staff else "0", repr(self.clock())])
        return JoinResult(outcome=outcome, opens_at=float(opens_at) if opens_at else None,
                          place=_place_from_script(here) if here else None)

    def leave(self, event_id: int, user_id: int) -> bool:
        return bool(self._leave(keys=_keys(event_id, "line", "state", "stats"), args=[user_id]))

    def place(self, event_id: int, user_id: int | None) -> Place:
        return _place_from_script(self._place(
            keys=_keys(event_id, "conf", "line", "state", "stats"),
            args=["" if user_id is None else user_id, repr(self.clock())]))

    def admit(self, event_id: int, *, max_batch: int) -> Admission:
        skipped, expired, served, admitted, opened = self._admit(
            keys=_keys(event_id, "conf", "line", "state", "deadlines", "stats", "log"),
            args=[max_batch, KEY_TTL_SECONDS, repr(self.clock())])
        return Admission(admitted=[int(u) for u in admitted], skipped=int(skipped),
                         expired=int(expired), served=int(served), opened=bool(opened))

    def pass_use(self, event_id: int, user_id: int, number: int) -> str:
        return self._pass_use(keys=_keys(event_id, "conf", "state", "deadlines", "stats"),
                              args=[user_id, number, repr(self.clock())])

    def pass_purchased(self, event_id: int, user_id: int) -> None:
        self._purchased(keys=_keys(event_id, "state", "stats", "purchasers"),
                        args=[user_id, KEY_TTL_SECONDS])

    def stats(self, event_id: int) -> LineStats:
        length, *counts = self._stats(keys=_keys(event_id, "line", "stats"))
        served, joined, admitted, used, purchases, expired, left = (int(c) for c in counts)
        conf = self.client.hmget(_keys(event_id, "conf")[0], "status", "rate")
        return LineStats(status=conf[0] or "none", length=int(length), served=served,
                         joined=joined, admitted=admitted, passes_out=admitted - used - expired,
                         used=used,
                         purchases=purchases, expired=expired, left=left,
                         rate_per_minute=float(conf[1] or 0))

    def admitted_log(self, event_id: int) -> list[int]:
        return [int(u) for u in self.client.lrange(_keys(event_id, "log")[0], 0, -1)]

    def latency_add(self, event_id: int, samples: list[tuple[float, float]]) -> None:
        latency = _keys(event_id, "latency")[0]
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(latency, *(f"{at!r}:{ms!r}" for at, ms in samples))
        pipe.ltrim(latency, 0, LATENCY_SAMPLES - 1)
        pipe.expire(latency, 3600)
        pipe.execute()

    def latency_since(self, event_id: int, since: float) -> list[float]:
        values = []
        for raw in self.client.lrange(_keys(event_id, "latency")[0], 0, -1):
            at, ms = raw.split(":")
            if float(at) >= since:
                values.append(float(ms))
        return values

    def claim_tick(self, event_id: int, name: str, seconds: float) -> bool:
        return bool(self.client.set(_keys(event_id, "tick")[0] + ":" + name, "1",
                                    nx=True, px=max(1, int(seconds * 1000))))

    def hold_tick(self, event_id: int, name: str, seconds: float) -> None:
        self.client.set(_keys(event_id, "tick")[0] + ":" + name, "1",
                        px=max(1, int(seconds * 1000)))


def _place_from_script(fields: list) -> Place:
    """A Place from the fields of the Lua function place()."""
    status, opens_at, sale_at, rate, length, served, st, rank, now, public = fields
    return _place(status=status, opens_at=float(opens_at) if opens_at else None,
                  sale_at=float(sale_at) if sale_at else None, rate=float(rate),
                  length=int(length), served=int(served), raw_state=st or None,
                  rank=None if int(rank) < 0 else int(rank), now=float(now),
                  public=public != "0")


def _place(*, status: str, opens_at: float | None, sale_at: float | None, rate: float,
           length: int, served: int, raw_state: str | None, rank: int | None,
           now: float, public: bool = True) -> Place:
    state = number = deadline = None
    if raw_state:
        kind = raw_state[0]
        state = _STATE_NAMES[kind]
        if kind in "au":
            _, number, deadline = _parse_pass(raw_state)
            if deadline <= now:  # the next admission tick marks it
                state = EXPIRED if kind == "a" else DONE
        elif rank is not None and sale_at is not None and now >= sale_at:
            number = served + rank + 1
    return Place(status=status, opens_at=opens_at, sale_at=sale_at, rate_per_minute=rate,
                 length=max(length, 0), served=served, state=state, number=number,
                 pass_deadline=deadline, now=now, public=public)


# --- process memory (embedded defaults) ------------------------------------------


@dataclass
class _MemoryLine:
    config: LineConfig | None = None
    line: list = field(default_factory=list)  # sorted [(score, user)]
    scores: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    mailbox: dict = field(default_factory=dict)
    counter: int = 0
    served: int = 0
    joined: int = 0
    admitted: int = 0
    used: int = 0
    purchasers: set = field(default_factory=set)
    expired: int = 0
    expired_pending: int = 0  # passes that ran out and whose holder joined again
    left: int = 0
    left_pending: int = 0
    last: float | None = None
    join_clock: float = 0.0
    opened: bool = False
    allowance: float = 0.0
    log: list = field(default_factory=list)
    latency: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    ticks: dict = field(default_factory=dict)


class MemoryQueueLine:
    """The same steps in process memory, each under one lock (what a Lua script is)."""

    def __init__(self, clock=time.time) -> None:
        self._lock = threading.Lock()
        self._lines: dict[int, _MemoryLine] = {}
        self.clock = clock

    def _line(self, event_id: int) -> _MemoryLine:
        return self._lines.setdefault(event_id, _MemoryLine())

    def configure(self, event_id: int, config: LineConfig) -> None:
        with self._lock:
            self._line(event_id).config = config

    def set_rate(self, event_id: int, rate_per_minute: float) -> None:
        with self._lock:
            line = self._line(event_id)
            if line.config is not None:
                line.config = replace(line.config, rate_per_minute=float(rate_per_minute))

    def drop(self, event_id: int) -> None:
        with self._lock:
            self._lines.pop(event_id, None)

    def join(self, event_id: int, user_id: int, mailbox: str, *,
             staff: bool = False) -> JoinResult:
        with self._lock:
            line = self._line(event_id)
            now = line.join_clock = max(line.join_clock, self.clock())  # as the script
            conf = line.config
            if conf is None:
                return JoinResult("not_configured")
            if not conf.public and not staff:
                return JoinResult("hidden")
            if conf.status == "closed":
                return JoinResult("closed")
            if now < conf.opens_at:
                return JoinResult("not_open", conf.opens_at)
            st = line.state.get(user_id)
            if st == "w":
                return JoinResult("kept")
            if st and st[0] in "au":
                if _parse_pass(st)[2] > now:
                    return JoinResult(ADMITTED if st[0] == "a" else IN_USE)
                if st[0] == "a":  # ran out before the tick marked it: the tick counts it
                    line.expired_pending += 1
                line.state[user_id] = "x" if st[0] == "a" else "d"
            if mailbox:
                owner = line.mailbox.get(mailbox)
                if owner is not None and owner != user_id and \
                        (line.state.get(owner) or " ")[0] in "wau":
                    return JoinResult("mailbox_taken")
                line.mailbox[mailbox] = user_id
            if st == "l" and user_id in line.scores:
                line.state[user_id] = "w"
                line.left_pending -= 1
                line.left -= 1
                return JoinResult("kept")
            if now < conf.sale_at and line.counter == 0 and line.served == 0:
                score = early_score(conf.secret, user_id)
            else:
                line.counter += 1
                score = 1 + line.counter
            line.scores[user_id] = score
            bisect.insort(line.line, (score, user_id))
            line.state[user_id] = "w"
            line.joined += 1
            return JoinResult("joined")

    def leave(self, event_id: int, user_id: int) -> bool:
        with self._lock:
            line = self._line(event_id)
            if line.state.get(user_id) != "w":
                return False
            line.state[user_id] = "l"
            line.left_pending += 1
            line.left += 1
            return True

    def place(self, event_id: int, user_id: int | None) -> Place:
        with self._lock:
            line = self._line(event_id)
            now = max(self.clock(), line.join_clock)  # as the script: never behind a join
            conf = line.config
            raw = line.state.get(user_id) if user_id is not None else None
            rank = None
            if raw in ("w", "l") and user_id in line.scores:
                rank = bisect.bisect_left(line.line, (line.scores[user_id], user_id))
            return _place(
                status=conf.status if conf else "none",
                opens_at=conf.opens_at if conf else None, sale_at=conf.sale_at if conf else None,
                rate=conf.rate_per_minute if conf else 0.0,
                length=len(line.line) - line.left_pending, served=line.served,
                raw_state=raw, rank=rank, now=now, public=conf.public if conf else True)

    def admit(self, event_id: int, *, max_batch: int) -> Admission:
        with self._lock:
            now = self.clock()
            line = self._line(event_id)
            conf = line.config
            if conf is None or conf.status == "closed":
                return Admission([], 0, 0, line.served)
            expired = 0
            for user, st in list(line.state.items()):
                if st[0] in "au" and _parse_pass(st)[2] <= now:
                    if st[0] == "a":
                        line.state[user] = "x"
                        expired += 1
                    else:
                        line.state[user] = "d"
            expired += line.expired_pending
            line.expired_pending = 0
            line.expired += expired
            allowance = line.allowance + expired
            last = now if line.last is None else line.last
            admitted: list[int] = []
            skipped = 0
            opened = now >= conf.sale_at and not line.opened
            line.opened = line.opened or opened
            if conf.status == "open" and now >= conf.sale_at:
                rate = conf.rate_per_minute
                burst = max(1.0, rate / 60 * BURST_SECONDS)
                elapsed = max(0.0, now - max(last, conf.sale_at))
                allowance = min(allowance + elapsed * rate / 60, burst + expired)
                want = min(math.floor(allowance + 1e-6), max_batch)  # as the script does
                pops_left = max_batch * MAX_POPS_FACTOR
                while len(admitted) < want and line.line and pops_left > 0:
                    pops_left -= 1
                    _, user = line.line.pop(0)
                    del line.scores[user]
                    line.served += 1
                    if line.state.get(user) == "l":
                        skipped += 1
                        continue
                    line.state[user] = f"a:{line.served}:{now + conf.pass_seconds!r}"
                    line.log.append(user)
                    admitted.append(user)
                allowance -= len(admitted)
                if not line.line:
                    allowance = min(allowance, burst)
                line.left_pending -= skipped
                line.admitted += len(admitted)
            line.last = now if line.last is None else max(line.last, now)
            line.allowance = allowance
            return Admission(admitted, skipped, expired, line.served, opened)

    def pass_use(self, event_id: int, user_id: int, number: int) -> str:
        with self._lock:
            now = self.clock()
            line = self._line(event_id)
            st = line.state.get(user_id)
            if st is None:
                return "none"
            if ":" not in st:
                return "expired" if st in ("x", "d") else "none"
            kind, held, deadline = _parse_pass(st)
            if held != number:
                return "stale"
            if deadline <= now:
                return "expired"
            if kind == "a":
                use = line.config.use_seconds if line.config else 0
                line.state[user_id] = f"u:{held}:{now + use!r}"
                line.used += 1
            return "ok"

    def pass_purchased(self, event_id: int, user_id: int) -> None:
        with self._lock:
            self._line(event_id).purchasers.add(user_id)

    def stats(self, event_id: int) -> LineStats:
        with self._lock:
            line = self._line(event_id)
            return LineStats(
                status=line.config.status if line.config else "none",
                length=len(line.line) - line.left_pending, served=line.served,
                joined=line.joined, admitted=line.admitted,
                passes_out=line.admitted - line.used - line.expired,
                used=line.used, purchases=len(line.purchasers), expired=line.expired,
                left=line.left,
                rate_per_minute=line.config.rate_per_minute if line.config else 0.0)

    def admitted_log(self, event_id: int) -> list[int]:
        with self._lock:
            return list(self._line(event_id).log)

    def latency_add(self, event_id: int, samples: list[tuple[float, float]]) -> None:
        with self._lock:
            self._line(event_id).latency.extend(samples)

    def latency_since(self, event_id: int, since: float) -> list[float]:
        with self._lock:
            return [ms for at, ms in self._line(event_id).latency if at >= since]

    def claim_tick(self, event_id: int, name: str, seconds: float) -> bool:
        with self._lock:
            now = self.clock()
            ticks = self._line(event_id).ticks
            if ticks.get(name, 0) > now:
                return False
            ticks[name] = now + seconds
            return True

    def hold_tick(self, event_id: int, name: str, seconds: float) -> None:
        with self._lock:
            self._line(event_id).ticks[name] = self.clock() + seconds

    def reset(self) -> None:
        with self._lock:
            self._lines.clear()



_memory = MemoryQueueLine()


def queue_line() -> QueueLine:
    """The line store of this configuration: Redis when REDIS_URL is set."""
    client = get_redis()
    if client is None:
        return _memory
    return _redis_line(client)


_redis_lines: dict[int, RedisQueueLine] = {}


def _redis_line(client) -> RedisQueueLine:
    line = _redis_lines.get(id(client))
    if line is None:
        line = _redis_lines[id(client)] = RedisQueueLine(client)
    return line

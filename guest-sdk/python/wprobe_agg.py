"""Aggregations kept in the handler's own memory, printed as bpftrace prints its maps.

The same rules and the same bytes as the Rust SDK's ``wprobe_sdk::agg`` (guest-sdk/src/agg.rs)::

    from wprobe import *
    from wprobe_agg import Agg

    opens = Agg.count("@opens")          # @opens[comm] = count()
    lat = Agg.hist("@usecs")             # @usecs = hist(...)
    opens.inc(execname())
    lat.add(None, latency_ns() // 1000)
    opens.print(10)                      # print(@opens, 10)

Keys: ``None`` (or ``()``) for a single value, printed ``@name: value``; an int, a str, or
a tuple of them, printed as bpftrace prints them (``@name[7, curl]: 3``). Values are
signed 64-bit as in bpftrace: an int past ``2**63 - 1`` wraps (``2**64 - 1`` is -1).
``print`` sorts by value ascending (histograms by total count, avg and stats by the
average), ties by key, and with ``top > 0`` prints the ``top`` largest.
"""
import struct

from wprobe import printf

__all__ = ["Agg", "Entry"]

_LOG_BUCKETS = 128
_LOG_ZERO = 64
_BPF_BAR = 52
_STAP_BAR = 50
_COUNTED = ("count", "hist", "lhist")


def _i64(v):
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def _f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def _div0(a, b):
    """C's integer division, rounding toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _unit(key):
    return key is None or key == ()


def _key_text(key):
    if isinstance(key, tuple):
        return ", ".join(_key_text(k) for k in key)
    return str(key)


class Entry:
    """One key's numbers: values added, their sum (wrapping at 64 bits), smallest, largest."""

    __slots__ = ("count", "sum", "min", "max", "buckets")

    def __init__(self, nbuckets):
        self.count = self.sum = self.min = self.max = 0
        self.buckets = [0] * nbuckets

    def avg(self):
        """sum / count rounded toward zero, 0 before any value (bpftrace's avg())."""
        return _div0(self.sum, self.count) if self.count else 0


def _log_bucket(v):
    if v == 0:
        return _LOG_ZERO
    if v > 0:
        return _LOG_ZERO + v.bit_length()
    return _LOG_ZERO - (-v).bit_length()


class Agg:
    """A bpftrace map of one aggregation kind. ``name`` is printed as given ("@opens")."""

    def __init__(self, name, kind, lmin=0, lmax=0, step=1):
        self.name = name
        self.kind = kind
        self._min, self._max, self._step = lmin, lmax, step
        if kind == "hist":
            self._nbuckets = _LOG_BUCKETS
        elif kind == "lhist":
            # SystemTap's layout: under min, the steps to one past max, over.
            self._nbuckets = (lmax - lmin) // step + 3
        else:
            self._nbuckets = 0
        self._entries = {}

    @classmethod
    def count(cls, name):
        return cls(name, "count")

    @classmethod
    def sum(cls, name):
        return cls(name, "sum")

    @classmethod
    def min(cls, name):
        return cls(name, "min")

    @classmethod
    def max(cls, name):
        return cls(name, "max")

    @classmethod
    def avg(cls, name):
        return cls(name, "avg")

    @classmethod
    def stats(cls, name):
        return cls(name, "stats")

    @classmethod
    def hist(cls, name):
        """hist(): power-of-two buckets."""
        return cls(name, "hist")

    @classmethod
    def lhist(cls, name, lmin, lmax, step):
        """lhist(v, min, max, step); ValueError, in bpftrace's words, for what it refuses."""
        if step <= 0:
            raise ValueError("lhist() step must be >= 1 (%d provided)" % step)
        if lmin < 0:
            raise ValueError("lhist() min must be non-negative (provided min %d)" % lmin)
        if lmin > lmax:
            raise ValueError("lhist() min must be less than max (provided min %d and max %d)" % (lmin, lmax))
        if lmax - lmin < step:
            raise ValueError("lhist() step is too large for the given range (provided step %d for range %d)"
                             % (step, lmax - lmin))
        if (lmax - lmin) // step > 1000:
            raise ValueError("lhist() too many buckets, must be <= 1000 (would need %d)" % ((lmax - lmin) // step))
        return cls(name, "lhist", lmin, lmax, step)

    def add(self, key, value):
        """Adds one value under ``key`` (a count() map counts it, whatever it is)."""
        # Called per event: the common case (an int key or None, an int value within 64 bits)
        # makes no other Python call; the literals are -2**63 and 2**63 - 1.
        if key == ():
            key = None
        v = value
        if type(v) is not int or not -9223372036854775808 <= v <= 9223372036854775807:
            v = _i64(v)
        e = self._entries.get(key)
        if e is None:
            e = self._entries[key] = Entry(self._nbuckets)
        if e.count == 0:
            e.min = e.max = v
        elif v < e.min:
            e.min = v
        elif v > e.max:
            e.max = v
        e.count += 1
        s = e.sum + v
        e.sum = s if -9223372036854775808 <= s <= 9223372036854775807 else _i64(s)
        kind = self.kind
        if kind == "hist":
            # _log_bucket(v), inlined
            if v > 0:
                e.buckets[_LOG_ZERO + v.bit_length()] += 1
            else:
                e.buckets[_LOG_ZERO - (-v).bit_length()] += 1
        elif kind == "lhist":
            i = 0 if v < self._min else min((v - self._min) // self._step + 1, self._nbuckets - 1)
            e.buckets[i] += 1

    def inc(self, key=None):
        """``add(key, 1)``: ``@name[key] = count()``."""
        self.add(key, 1)

    def get(self, key=None):
        """The key's :class:`Entry`, or None."""
        return self._entries.get(None if _unit(key) else key)

    def delete(self, key=None):
        """delete(@name[key]): True if the key was there."""
        return self._entries.pop(None if _unit(key) else key, None) is not None

    def clear(self):
        """clear(@name): every key goes; a single value is zeroed instead, as bpftrace does."""
        single = self._entries.get(None)
        self._entries = {}
        if single is not None:
            self._entries[None] = Entry(self._nbuckets)

    def zero(self):
        """zero(@name): every key stays, its value back to 0."""
        for k in self._entries:
            self._entries[k] = Entry(self._nbuckets)

    def __len__(self):
        return len(self._entries)

    def len(self):
        return len(self._entries)

    def _value(self, e):
        if self.kind in _COUNTED:
            return e.count
        if self.kind == "sum":
            return e.sum
        if self.kind == "min":
            return e.min
        if self.kind == "max":
            return e.max
        return e.avg()

    def sorted(self):
        """(key, Entry) pairs as print orders them: by value ascending, ties by key."""
        return sorted(self._entries.items(), key=lambda kv: (self._value(kv[1]), () if kv[0] is None else kv[0]))

    def text(self, top=0):
        """What print(top) prints."""
        rows = self.sorted()
        if top > 0 and len(rows) > top:
            rows = rows[len(rows) - top:]
        parts = []
        for key, e in rows:
            head = self.name if key is None else "%s[%s]" % (self.name, _key_text(key))
            k = self.kind
            if k == "count":
                value = str(e.count)
            elif k in ("sum", "min", "max", "avg"):
                value = str(self._value(e))
            elif k == "stats":
                value = "count %d, average %d, total %d" % (e.count, e.avg(), e.sum)
            elif k == "hist":
                value = "\n" + self._bpf_log_table(e.buckets)
            else:
                value = "\n" + self._bpf_linear_table(e.buckets)
            parts.append(head + ": " + value)
        out = "\n".join(parts) + "\n"
        # bpftrace ends avg() and stats() maps with an empty line.
        return out + "\n" if self.kind in ("avg", "stats") else out

    def print(self, top=0):
        """print(@name, top): the ``top`` largest (all for 0), largest last."""
        printf("%s", self.text(top))

    def stap_text(self, key=None):
        """SystemTap's print(@hist_log(v)) / print(@hist_linear(v, min, max, step)) of the
        histogram under ``key``; "" for another kind, a missing key, or no values."""
        e = self.get(key)
        if e is None or self.kind not in ("hist", "lhist"):
            return ""
        return _stap_table(e.buckets, (self._min, self._step) if self.kind == "lhist" else None)

    def print_stap(self, key=None):
        printf("%s", self.stap_text(key))

    # bpftrace's tables ---------------------------------------------------------------------

    def _bpf_log_table(self, b):
        counts = [sum(b[:_LOG_ZERO])] + b[_LOG_ZERO:]

        def label(i):
            if i == 0:
                return "(..., 0)"
            if i == 1:
                return "[0]"
            if i == 2:
                return "[1]"
            return "[%s, %s)" % (_pow2(i - 2), _pow2(i - 1))

        return _bpf_table(counts, label)

    def _bpf_linear_table(self, b):
        # lhist's [max, ...) also holds SystemTap's extra step past max.
        counts = b[:-1]
        counts[-1] += b[-1]
        last = len(counts) - 1
        lmin, lmax, step = self._min, self._max, self._step

        def label(i):
            if i == 0:
                return "(..., %s)" % _linear_number(lmin)
            if i == last:
                return "[%s, ...)" % _linear_number(lmax)
            return "[%s, %s)" % (_linear_number((i - 1) * step + lmin), _linear_number(i * step + lmin))

        return _bpf_table(counts, label)


def _pow2(p):
    return "%d%s" % (1 << (p % 10), " KMGTPE"[p // 10] if p >= 10 else "")


def _linear_number(n):
    if n != 0 and n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n != 0 and n % 1024 == 0:
        return "%dK" % (n >> 10)
    return str(n)


def _bpf_table(counts, label):
    """Rows from the first non-empty bucket to the last; the bar is count / max * 52 in
    single precision, truncated, as bpftrace computes it."""
    nonzero = [i for i, c in enumerate(counts) if c > 0]
    if not nonzero:
        return ""
    top = _f32(max(counts))
    rows = []
    for i in range(nonzero[0], nonzero[-1] + 1):
        c = counts[i]
        bar = int(_f32(_f32(_f32(c) / top) * _BPF_BAR))
        rows.append("%-16s%8d |%-52s|\n" % (label(i), c, "@" * bar))
    return "".join(rows)


def _digits(v):
    return len(str(v))


def _stap_log_value(i):
    if i == _LOG_ZERO:
        return 0
    if i > _LOG_ZERO:
        return 1 << (i - _LOG_ZERO - 1)
    return -(1 << (_LOG_ZERO - 1 - i))


def _stap_table(h, linear):
    """SystemTap's table (runtime/stat-common.c); see write_stap_table in agg.rs."""
    n = len(h)
    nonzero = [i for i, c in enumerate(h) if c > 0]
    if not nonzero:
        return ""
    low, high = nonzero[0], nonzero[-1]
    valmax = max(h)
    for _ in range(2):
        if low > 0 and (linear is not None or low != _LOG_ZERO):
            low -= 1
        if high < n - 1:
            high += 1
    under = over = False
    if linear is not None:
        if low == 0 and h[0] == 0:
            low += 1
        if high == n - 1 and h[high] == 0:
            high -= 1
        under, over = low == 0, high == n - 1
    scale = 1 if valmax <= _STAP_BAR else -(-valmax // _STAP_BAR)
    cnt_space = _digits(valmax)
    if linear is not None:
        start, interval = linear
        val_space = max(_digits(start) + under, _digits(start + interval * high) + over)
    else:
        val_space = max(_digits(_stap_log_value(high)), _digits(_stap_log_value(low)))
    val_space = max(val_space, 5)
    out = ["%*s |%s count\n" % (val_space, "value", "-" * _STAP_BAR)]
    eliding = False
    for i in range(low, high + 1):
        if all(c == 0 for c in h[max(low, i - 2):min(high, i + 2) + 1]):
            eliding = True
            continue
        if eliding:
            out.append("%*s ~\n" % (val_space, ""))
            eliding = False
        prefix = ""
        if linear is None:
            val = _stap_log_value(i)
        elif i == 0:
            prefix, val = "<", linear[0]
        elif i == n - 1:
            prefix, val = ">", linear[0] + (i - 2) * linear[1]
        else:
            val = linear[0] + (i - 1) * linear[1]
        v = h[i] // scale
        pad = max(val_space - _digits(val), 0)
        out.append("%*s%d |%s%*d\n" % (pad, prefix, val, "@" * v, _STAP_BAR - v + 1 + cnt_space, h[i]))
    out.append("\n")
    return "".join(out)

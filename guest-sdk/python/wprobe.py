"""wprobe handlers in Python: SystemTap's accessors and printf over componentize-py's bindings.

A handler module does ``from wprobe import *`` and registers its probe body with
``@handler``, either a function (stateless, run once per event) or a class (state in its
fields, ``__init__(self, session)`` as ``probe begin``, ``event(self)`` per event,
``end(self)`` as ``probe end``)::

    from wprobe import *

    @handler
    def tcp_connect():
        asmlinkage()
        printf("%s, %d, %d, 0x%x, 0x%x, %d\\n", pp(), pid(), cpu(),
               pointer_arg(1), pointer_arg(2), uint_arg(3))

``from wprobe import *`` also brings in ``WitWorld``, the class componentize-py looks for
in the app module: it implements the component's exports (``init``, ``handle-batch``,
``end``) on top of the registered handler. See README.md beside this file.
"""

import sys as _sys

import wit_world
import wprobe_common as _common
from wit_world.imports import context as _ctx
from wit_world.imports import types as _types
from componentize_py_types import Err as _Err

__all__ = [
    # lifecycle
    "handler", "Handler", "Session", "Probe", "AccessError", "WitWorld",
    # context the SDK answers itself; the accessors that ask the host join from
    # wprobe_context (generated from the WIT) at the end of this module
    "pp", "lost_events", "asmlinkage", "print_regs",
    # read from the flat record (no import call per event)
    "pid", "tid", "uid", "cpu", "timestamp_ns", "probe_id", "is_return", "execname",
    "int_arg", "uint_arg", "long_arg", "ulong_arg", "longlong_arg", "ulonglong_arg",
    "pointer_arg", "s32_arg", "u32_arg", "s64_arg", "u64_arg", "returnval",
    "entry_timestamp_ns", "latency_ns",
    # typed return values
    "int_returnval", "uint_returnval", "long_returnval", "ulong_returnval", "errno_str",
    # output and control
    "printf", "warn", "exit",
    # captures
    "Capture", "Base",
]

# ----------------------------------------------------------------------------------------
# State. A component instance runs one handler; componentize-py may make a new `WitWorld`
# object per export call, so everything lives at module level.

_factory = None          # what @handler registered: a class or a function
_instance = None         # the running handler (object with .event() / .end())
_in_event = False        # True while the cursor stands on an event (all through a flat batch's loop)
_index = 0               # index of the current event in its batch, from 0 (cursor path)
_phase = "idle"          # "init", "batch", "end", "idle": for error reports
_lost = 0
_pp = {}                 # probe id -> pp string, from the session's probe table
_out = []                # pending printf text
_out_append = _out.append
_out_len = 0
# The flat batch (delivery "flat"): the record header's fields, the arguments and the return
# value are read from the batch's bytes, with no import call per accessor.
_u32 = None              # the batch as u32 words (memoryview), or None on the cursor path
_u64 = None              # the batch as u64 words
_i = None                # the current event's index in its batch; None outside a flat batch's
                         # loop, so that indexing a column raises TypeError
_rs = None               # every record's offset in u32 words, by index: a range (records of the
                         # fixed size, the usual batch) or a list
_as = None               # in a batch with return records: every record's argument registers'
                         # start in u64 words (its own, a return's entry's; None if unseen)
_rec_size = 0            # bytes of a record's fixed part in the current batch
_nregs = _common.NREGS_X86_64
_slotq = {}              # argument number -> its register's u64 slot, for the batch's architecture
_retq = 0                # the return value's u64 word, from the record's start
# Columns: what an accessor returns for each event of the batch, as a list indexed by _i,
# built with one slice of a view (C code) the first time the accessor is called in a batch,
# and for every later batch as soon as it opens. An accessor is then one list index: most
# of a handler's time is its Python calls, and a view's item costs more than the call.
# Outside a flat batch's loop _i is None, so the accessors' `try` (free until it raises)
# falls into their slow path, which asks the host on the cursor path or reports the misuse.
_c_pid = _c_tid = _c_uid = _c_cpu = _c_probe_id = _c_flags = _c_time = _c_pp = None
# Argument number -> column, per conversion (argument numbers not passed in registers never
# get one: KeyError, and the slow path raises no-such-argument).
_c_u64 = {}
_c_s64 = {}
_c_u32 = {}
_c_s32 = {}
_CODES = {"u64": "Q", "s64": "q", "u32": "I", "s32": "i"}
_used = []               # the specs of the columns accessors have asked for (see Columns)
_compiled = None         # _used's column builders for the usual batch (see _compile_columns)
_ARG_COLUMNS = ("_c_u64", "_c_s64", "_c_u32", "_c_s32")
_views = {}              # the batch's views by struct code
_G = globals()
_host_next = 0           # next() calls made this batch: the host's cursor is on event _host_next - 1
# Register slots of the arguments passed in registers (wprobe_common::abi): x86_64 rdi rsi
# rdx rcx r8 r9, aarch64 x0..x7; the return value: rax, x0.
_ARG_SLOTS = {_common.ARCH_X86_64: (14, 13, 12, 11, 9, 8), _common.ARCH_AARCH64: (0, 1, 2, 3, 4, 5, 6, 7)}
_RET_SLOT = {_common.ARCH_X86_64: 10, _common.ARCH_AARCH64: 0}
_NREGS = {_common.ARCH_X86_64: _common.NREGS_X86_64, _common.ARCH_AARCH64: _common.NREGS_AARCH64}
# The record's fields: a record at u32 word r has its u32 field k at r + k, its u64 field k
# at (r >> 1) + k.
_R_PID = _common.R_PID >> 2
_R_TID = _common.R_TID >> 2
_R_UID = _common.R_UID >> 2
_R_CPU = _common.R_CPU >> 2
_R_FLAGS = _common.R_FLAGS >> 2
_R_PROBE_ID = _common.R_PROBE_ID >> 2
_R_TIME = _common.R_TIME >> 3
_R_REGS = _common.R_REGS >> 3
_FLAG_RETURN = _common.FLAG_RETURN
_FLAG_EXT = _common.FLAG_EXT
_PLAIN = frozenset((0,))  # the flags of an entry record without an extension area
# Per architecture: _slotq, _retq, _nregs.
_ARCHES = {
    arch: ({n: s for n, s in enumerate(slots, 1)}, _R_REGS + _RET_SLOT[arch], _NREGS[arch])
    for arch, slots in _ARG_SLOTS.items()
}

#: Pending output is sent to the host once per batch, or as soon as this much is pending.
FLUSH_AT = 64 * 1024


# ----------------------------------------------------------------------------------------
# Errors

class AccessError(Exception):
    """An accessor could not answer (``pointer_arg(9)``, ``returnval()`` in an entry probe,
    ...). Uncaught, it ends the session and is reported with the event it happened on."""

    def __init__(self, kind, value=None):
        # The WIT variant's tag: "no-such-argument", "no-such-register", "not-a-return-probe",
        # "no-current-event", "not-captured", "fault", "no-entry", "not-a-tracepoint",
        # "no-such-field".
        self.kind = kind
        # The payload: the argument number, register name, (addr, arg) for not-captured,
        # the address for fault, the host's field text for no-such-field; else None.
        self.value = value
        super().__init__(_describe(kind, value))


def _describe(kind, value):
    # The words come from wprobe_common, generated from the one table every SDK uses.
    if kind == "not-captured":
        addr, arg = value
        if arg == 0:
            return _common.TEXT_NOT_CAPTURED % {"addr": addr}
        return _common.TEXT_NOT_CAPTURED_ARG % {"addr": addr, "arg": arg}
    template = getattr(_common, "TEXT_" + kind.upper().replace("-", "_"), _common.TEXT_NO_CURRENT_EVENT)
    return template % {"n": value, "name": value, "addr": value, "what": value}


# WIT access-error cases, by componentize-py's class for each.
_ERRORS = (
    (_types.AccessError_NoSuchArgument, "no-such-argument"),
    (_types.AccessError_NoSuchRegister, "no-such-register"),
    (_types.AccessError_NotAReturnProbe, "not-a-return-probe"),
    (_types.AccessError_NoCurrentEvent, "no-current-event"),
    (_types.AccessError_NotCaptured, "not-captured"),
    (_types.AccessError_Fault, "fault"),
    (_types.AccessError_NoEntry, "no-entry"),
    (_types.AccessError_NotATracepoint, "not-a-tracepoint"),
    (_types.AccessError_NoSuchField, "no-such-field"),
)


def _access_error(e):
    v = e.value
    for cls, kind in _ERRORS:
        if isinstance(v, cls):
            if isinstance(v, _types.AccessError_NotCaptured):
                return AccessError(kind, (v.value.addr, v.value.arg))
            return AccessError(kind, getattr(v, "value", None))
    return AccessError("no-current-event")


def _outside(name):
    raise RuntimeError("wprobe.%s() called outside an event: accessors read the current "
                       "event, in the handler's event" % name)


def _current_index():
    """The current event's index in its batch."""
    return _index if _u32 is None else _i


def _sync():
    """Moves the host's cursor to the current event, for the accessors that ask the host."""
    global _host_next
    index = _current_index()
    while _host_next <= index:
        _ctx.next()
        _host_next += 1


def _to_host():
    """Before an accessor that asks the host (the generated ones): on a flat batch the host's
    cursor moves only when asked, so it is brought to the current event first."""
    if _u32 is not None:
        _sync()


def _entry(off):
    """The entry item's data offset (u64 time, then the entry's registers) of the record at
    byte ``off`` of the batch, or -1 without one (attached mid-call, the entry lost)."""
    if not _u32[(off >> 2) + _R_FLAGS] & _FLAG_EXT:
        return -1
    at = off + _rec_size
    end = at + _common.EXT_HEADER_SIZE + _u32[at >> 2]
    at += _common.EXT_HEADER_SIZE
    while at + _common.ITEM_HEADER_SIZE <= end:
        n = _u32[(at + _common.I_LEN) >> 2]
        padded = (n + 7) & ~7
        if at + _common.ITEM_HEADER_SIZE + padded > end:
            return -1
        if _u32[at >> 2] & 0xFF == _common.KIND_ENTRY:
            return at + _common.ITEM_HEADER_SIZE if n >= 8 + 8 * _nregs else -1
        at += _common.ITEM_HEADER_SIZE + padded
    return -1


def _flat_arg(n):
    """Argument n's register as an unsigned 64-bit value: the record's, or in a return probe
    its entry's (as wprobe_common decodes it on the host)."""
    slot = _slotq.get(n) if isinstance(n, int) else None
    if slot is None:
        raise AccessError("no-such-argument", n)
    a = (_rs[_i] >> 1) + _R_REGS if _as is None else _as[_i]
    if a is None:
        raise AccessError("no-entry")
    return _u64[a + slot]


# ----------------------------------------------------------------------------------------
# Columns
#
# A column's spec: (where it is stored: this module's globals or one of the _c_* argument
# dicts, its key there, the view's struct code or None for pp's, the item's offset k from
# the record's start in the view's words: a record at u32 word r has its u32 item k at
# r + k, its u64 item k at (r >> 1) + k). An argument's k is ~slot (negative): its
# register's slot among the record's registers, or in a return record its entry's.

def _view(code):
    v = _views.get(code)
    if v is None:
        v = _views[code] = memoryview(_batch).cast(code)
    return v


def _gather(code, k):
    """The column of the current batch's records' item k in the view ``code``, or None if it
    cannot be built (pp() of a probe id the table lacks, an argument of a return whose entry
    is unseen): that accessor's slow path answers then."""
    if code is None:
        try:
            return list(map(_pp.__getitem__, _gather("I", _R_PROBE_ID)))
        except KeyError:
            return None
    view = _view(code)
    wide = view.itemsize == 8
    rs = _rs
    if k < 0:
        slot = ~k
        if _as is not None:
            if None in _as:
                return None
            if wide:
                return [view[a + slot] for a in _as]
            return [view[(a + slot) << 1] for a in _as]
        k = _R_REGS + slot if wide else (_R_REGS + slot) << 1
    if wide:
        if type(rs) is range:
            return view[(rs.start >> 1) + k:(rs.stop >> 1) + k:rs.step >> 1].tolist()
        return [view[(r >> 1) + k] for r in rs]
    if type(rs) is range:
        return view[rs.start + k:rs.stop + k:rs.step].tolist()
    return [view[r + k] for r in rs]


def _build(spec):
    """Builds a column into its place (None if it cannot be built) and returns it."""
    column = spec[0][spec[1]] = _gather(spec[2], spec[3])
    return column


def _compile_columns():
    """The usual batch's column builders for the columns in _used, as straight-line Python
    (one statement per column, the offsets folded in): ``one(u32, u64)`` for a batch of one
    record (a live run's lone event), ``many(u32, u64, e, st)`` for more, e the batch's end
    and st the record size in u32 words. Compiled again whenever _used changes."""
    s = _common.BATCH_HEADER_SIZE >> 2
    one = ["def one(u32, u64):"]
    many = ["def many(u32, u64, e, st):"]
    names = [name for name, where, key, _, _ in _specs() if where is _G]
    if names:
        one.append("    global " + ", ".join(names))
        many.append("    global " + ", ".join(names))
    for i, (name, where, key, code, k) in enumerate(_specs()):
        target = name if where is _G else "%s[%d]" % (name, key)
        if code == "I":
            one.append("    %s = [u32[%d]]" % (target, s + k))
            many.append("    %s = u32[%d:e + %d:st].tolist()" % (target, s + k, k))
        elif code == "Q":
            one.append("    %s = [u64[%d]]" % (target, (s >> 1) + k))
            many.append("    %s = u64[%d:(e >> 1) + %d:st >> 1].tolist()" % (target, (s >> 1) + k, k))
        elif code is None:
            # pp: None for a probe id the table lacks (pp() asks the host)
            k = s + _R_PROBE_ID
            one += ["    try:", "        _c_pp = [_pp[u32[%d]]]" % k]
            many += ["    try:", "        _c_pp = list(map(_pp.__getitem__, u32[%d:e + %d:st].tolist()))" % (k, _R_PROBE_ID)]
            for lines in (one, many):
                lines += ["    except KeyError:", "        _c_pp = None"]
        else:
            # signed arguments: the general builder
            for lines in (one, many):
                lines.append("    _build(_used[%d])" % i)
    code = {}
    exec("\n".join(one + ["    pass"] + many + ["    pass"]) + "\n", _G, code)
    return code["one"], code["many"]


def _specs():
    """_used's specs as (the name of where the column is stored, where, key, view code,
    offset), arguments' offsets resolved for the batch's architecture."""
    for where, key, code, k in _used:
        name = key if where is _G else next(n for n in _ARG_COLUMNS if _G[n] is where)
        if k < 0 and code in ("I", "Q"):
            k = _R_REGS + ~k if code == "Q" else (_R_REGS + ~k) << 1
        yield name, where, key, code, k


def _build_columns(first, end, size):
    """At a flat batch's start: the columns the accessors have asked for so far. The usual
    batch (entry records of the fixed size) takes one slice of a view per column, by code
    compiled for the columns in use."""
    global _compiled
    if _as is not None or type(_rs) is not range:
        for spec in _used:
            _build(spec)
        return
    if _compiled is None:
        _compiled = _compile_columns()
    if end - first == size:
        _compiled[0](_u32, _u64)
    else:
        _compiled[1](_u32, _u64, end >> 2, size >> 2)


def _column(spec):
    """An accessor's first call in a flat batch: builds its column, for this batch and every
    later one. Returns the current event's value, or raises LookupError when the column
    cannot be built (the caller's slow path answers)."""
    global _compiled
    column = _build(spec)
    if column is None:
        raise LookupError(spec[1])
    if spec not in _used:
        _used.append(spec)
        _compiled = None
    return column[_i]


# ----------------------------------------------------------------------------------------
# Context accessors read from the flat record (no import call per event); outside an
# event they raise RuntimeError (the host would trap).

def _slow(name, imp, key, k, code="I"):
    """An accessor's path when its column is missing: outside a flat batch (the cursor path
    asks the host), or the first call in this one."""
    if _u32 is None:
        if not _in_event:
            _outside(name)
        return imp()
    return _column((_G, key, code, k))


def pid():
    """Process id: the thread-group id of the task that hit the probe."""
    try:
        return _c_pid[_i]
    except TypeError:
        return _slow("pid", _ctx.pid, "_c_pid", _R_PID)


def tid():
    """Thread id of the task."""
    try:
        return _c_tid[_i]
    except TypeError:
        return _slow("tid", _ctx.tid, "_c_tid", _R_TID)


def uid():
    """Real user id of the task."""
    try:
        return _c_uid[_i]
    except TypeError:
        return _slow("uid", _ctx.uid, "_c_uid", _R_UID)


def cpu():
    """CPU the probe fired on."""
    try:
        return _c_cpu[_i]
    except TypeError:
        return _slow("cpu", _ctx.cpu, "_c_cpu", _R_CPU)


def timestamp_ns():
    """CLOCK_MONOTONIC at the hit, in nanoseconds."""
    try:
        return _c_time[_i]
    except TypeError:
        return _slow("timestamp_ns", _ctx.timestamp_ns, "_c_time", _R_TIME, "Q")


def probe_id():
    """Index of the event's probe in the session's probe table."""
    try:
        return _c_probe_id[_i]
    except TypeError:
        return _slow("probe_id", _ctx.probe_id, "_c_probe_id", _R_PROBE_ID)


def is_return():
    """True in a return probe."""
    try:
        return _c_flags[_i] & _FLAG_RETURN != 0
    except TypeError:
        return _slow("is_return", _ctx.is_return, "_c_flags", _R_FLAGS) & _FLAG_RETURN != 0


def _slow_pp():
    if not _in_event:
        _outside("pp")
    if _u32 is not None:
        try:
            return _column((_G, "_c_pp", None, 0))
        except LookupError:
            pass
    p = _pp.get(_u32[_rs[_i] + _R_PROBE_ID] if _u32 is not None else _ctx.probe_id())
    if p is not None:
        return p
    if _u32 is not None:
        _sync()
    return _ctx.pp()


def pp():
    """The probe point in SystemTap's spelling, ``kprobe.function("tcp_v4_connect")``.
    Looked up in the probe table ``init`` received."""
    try:
        return _c_pp[_i]
    except TypeError:
        return _slow_pp()


def execname():
    """The task's command name as captured at the hit (up to 15 bytes)."""
    if not _in_event:
        _outside("execname")
    if _u32 is not None:
        at = (_rs[_i] << 2) + _common.R_COMM
        comm = _batch[at:at + _common.COMM_LEN]
        return comm.split(b"\0", 1)[0].decode("utf-8", "replace")
    return _ctx.execname()


def lost_events():
    """Events the kernel dropped (ring buffer full) before the current batch."""
    return _lost


def asmlinkage():
    """SystemTap's calling-convention hint; changes nothing on x86_64 and aarch64."""


# ----------------------------------------------------------------------------------------
# Arguments (n counts from 1), return value and registers: raise AccessError.
#
# Each conversion has a column per argument number (see Columns): the register read
# through the view of that signedness (the u64 word, or its low half, little-endian). A
# missing column raises KeyError in a flat batch, TypeError outside one.

def _slow_arg(n, conv, imp):
    if not _in_event:
        raise AccessError("no-current-event")
    if _u32 is not None:
        if isinstance(n, int) and n in _slotq:
            try:
                return _column((_G["_c_" + conv], n, _CODES[conv], ~_slotq[n]))
            except LookupError:
                pass
        v = _flat_arg(n)
        if conv == "u64":
            return v
        if conv == "u32":
            return v & 0xFFFFFFFF
        if conv == "s64":
            return v - (1 << 64) if v >= 1 << 63 else v
        v &= 0xFFFFFFFF
        return v - (1 << 32) if v >= 1 << 31 else v
    try:
        return imp(n)
    except _Err as e:
        raise _access_error(e) from None


def pointer_arg(n):
    """Argument n as a pointer (unsigned 64 bits)."""
    try:
        return _c_u64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u64", _ctx.pointer_arg)


def ulong_arg(n):
    """Argument n as an ``unsigned long``."""
    try:
        return _c_u64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u64", _ctx.ulong_arg)


def ulonglong_arg(n):
    """Argument n as an ``unsigned long long``."""
    try:
        return _c_u64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u64", _ctx.ulonglong_arg)


def u64_arg(n):
    """Argument n as a ``u64``."""
    try:
        return _c_u64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u64", _ctx.u64_arg)


def long_arg(n):
    """Argument n as a ``long`` (signed 64 bits)."""
    try:
        return _c_s64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "s64", _ctx.long_arg)


def longlong_arg(n):
    """Argument n as a ``long long``."""
    try:
        return _c_s64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "s64", _ctx.longlong_arg)


def s64_arg(n):
    """Argument n as an ``s64``."""
    try:
        return _c_s64[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "s64", _ctx.s64_arg)


def int_arg(n):
    """Argument n as an ``int`` (the low 32 bits, signed)."""
    try:
        return _c_s32[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "s32", _ctx.int_arg)


def s32_arg(n):
    """Argument n as an ``s32``."""
    try:
        return _c_s32[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "s32", _ctx.s32_arg)


def uint_arg(n):
    """Argument n as an ``unsigned int`` (the low 32 bits)."""
    try:
        return _c_u32[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u32", _ctx.uint_arg)


def u32_arg(n):
    """Argument n as a ``u32``."""
    try:
        return _c_u32[n][_i]
    except (TypeError, KeyError):
        return _slow_arg(n, "u32", _ctx.u32_arg)


def returnval():
    """The return value register (rax, x0), signed. Return probes only."""
    if not _in_event:
        raise AccessError("no-current-event")
    if _u32 is not None:
        r = _rs[_i]
        if not _u32[r + _R_FLAGS] & _FLAG_RETURN:
            raise AccessError("not-a-return-probe")
        return _view("q")[(r >> 1) + _retq]
    try:
        return _ctx.returnval()
    except _Err as e:
        raise _access_error(e) from None


# register, u_register, returnstr and the other accessors that ask the host (entry values
# aside, captured memory, tracepoint fields, target, syscall_name) are generated from the WIT
# into wprobe_context.py and re-exported at the end of this module.


# Typed return values. returnval() is SystemTap's: the whole return register (rax, x0),
# signed. A function declared ``int`` defines only the low 32 bits, so ``return -ENOENT``
# can read as 4294967294 there. Decode by the probed function's C return type: int ->
# int_returnval(), unsigned int -> uint_returnval(), long/ssize_t -> long_returnval(),
# unsigned long/size_t -> ulong_returnval().


def int_returnval():
    """The return value of a function returning ``int``: the low 32 bits, signed
    (``-2`` for ``-ENOENT``). Return probes only."""
    v = returnval() & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def uint_returnval():
    """The return value of a function returning ``unsigned int``: the low 32 bits."""
    return returnval() & 0xFFFFFFFF


def long_returnval():
    """The return value of a function returning ``long``: the whole register, signed
    (the same as ``returnval()``)."""
    return returnval()


def ulong_returnval():
    """The return value of a function returning ``unsigned long``: the whole register,
    unsigned."""
    return returnval() & 0xFFFFFFFFFFFFFFFF


def errno_str(e):
    """SystemTap's errno_str: the name of errno ``e`` of either sign (``"ENOENT"`` for 2 or
    -2), or None when Linux defines no such errno:
    ``r = int_returnval(); printf(f"{r} ({errno_str(r)})\\n")`` prints ``-2 (ENOENT)``."""
    e = abs(e)
    if 1 <= e <= len(_common.ERRNO_NAMES):
        name = _common.ERRNO_NAMES[e - 1]
    elif 0 <= e - _common.ERRNO_FIRST_INTERNAL < len(_common.ERRNO_INTERNAL):
        name = _common.ERRNO_INTERNAL[e - _common.ERRNO_FIRST_INTERNAL]
    else:
        name = ""
    return name or None


def print_regs():
    """Prints every saved register in SystemTap's layout, in order with printf's output."""
    if not _in_event:
        raise AccessError("no-current-event")
    _flush()
    if _u32 is not None:
        _sync()
    try:
        _ctx.print_regs()
    except _Err as e:
        raise _access_error(e) from None


# ----------------------------------------------------------------------------------------
# Entry values of a return probe, from the flat record's entry item.

def _slow_entry(imp):
    if not _in_event:
        raise AccessError("no-current-event")
    if _u32 is not None:
        if not _u32[_rs[_i] + _R_FLAGS] & _FLAG_RETURN:
            raise AccessError("not-a-return-probe")
        raise AccessError("no-entry")
    try:
        return imp()
    except _Err as e:
        raise _access_error(e) from None


# A return record's _as item is its entry item's registers, just after the entry's u64 time
# (None without an entry: TypeError, and the slow path says which error).

def entry_timestamp_ns():
    """In a return probe, CLOCK_MONOTONIC at the paired entry; AccessError "no-entry" if unseen."""
    try:
        if _u32[_rs[_i] + _R_FLAGS] & _FLAG_RETURN:
            return _u64[_as[_i] - 1]
    except TypeError:
        pass
    return _slow_entry(_ctx.entry_timestamp_ns)


def latency_ns():
    """In a return probe, nanoseconds from the paired entry to this return."""
    try:
        r = _rs[_i]
        if _u32[r + _R_FLAGS] & _FLAG_RETURN:
            return max(0, _u64[(r >> 1) + _R_TIME] - _u64[_as[_i] - 1])
    except TypeError:
        pass
    return _slow_entry(_ctx.latency_ns)


# ----------------------------------------------------------------------------------------
# Captures: memory to take at the hit, declared in __init__ with session.capture.

class Base:
    """Where a capture's address starts: ``Base.arg(n)``, ``Base.register("rdi")``,
    ``Base.returnval()``, ``Base.field("filename")``."""

    @staticmethod
    def arg(n):
        """Argument n (from 1): the syscall's for syscall probes, the entry's in a return probe."""
        return _types.CaptureBase_Arg(n)

    @staticmethod
    def register(name):
        return _types.CaptureBase_Register(name)

    @staticmethod
    def returnval():
        """The return value (return probes; read at the return)."""
        return _types.CaptureBase_Returnval()

    @staticmethod
    def field(name):
        """A tracepoint field holding a pointer."""
        return _types.CaptureBase_Field(name)


class Capture:
    """Memory for the kernel side to read at each hit, declared in ``__init__`` with
    ``session.capture(Capture.user_string(Base.arg(2), 256))``: a handler runs later, when
    the memory has changed, so it says what to read as data. The address is
    ``base + offset``, then for each ``deref(d)`` ``*(u64 *)addr + d``. The builder methods
    return the capture, so they chain: ``Capture.kernel_bytes(Base.arg(1), 16).deref(8)``."""

    __slots__ = ("_probe", "_base", "_offset", "_derefs", "_kind", "_size", "_space", "_at")

    def __init__(self, base, size, kind, space):
        self._probe = None
        self._base = base
        self._offset = 0
        self._derefs = []
        self._kind = kind
        self._size = size
        self._space = space
        self._at = _types.CaptureTime.ENTRY

    @classmethod
    def user_string(cls, base, max):
        """A NUL-terminated user-space string of at most ``max - 1`` bytes."""
        return cls(base, max, _types.CaptureKind.STRING, _types.AddressSpace.USER)

    @classmethod
    def kernel_string(cls, base, max):
        """A NUL-terminated kernel string of at most ``max - 1`` bytes."""
        return cls(base, max, _types.CaptureKind.STRING, _types.AddressSpace.KERNEL)

    @classmethod
    def user_bytes(cls, base, n):
        """Exactly ``n`` bytes of user memory."""
        return cls(base, n, _types.CaptureKind.BYTES, _types.AddressSpace.USER)

    @classmethod
    def kernel_bytes(cls, base, n):
        """Exactly ``n`` bytes of kernel memory."""
        return cls(base, n, _types.CaptureKind.BYTES, _types.AddressSpace.KERNEL)

    def offset(self, offset):
        """Adds ``offset`` to the address (a field of the struct the base points to)."""
        self._offset = offset
        return self

    def deref(self, offset):
        """Follows the pointer at the address so far, then adds ``offset``."""
        self._derefs.append(offset)
        return self

    def probe(self, id):
        """Only for the probe with this id (by default: every probe)."""
        self._probe = id
        return self

    def at_return(self):
        """Return probes: read at the return, not at the entry. Entry probes ignore it."""
        self._at = _types.CaptureTime.RETURN
        return self

    def _to_wit(self):
        return _types.Capture(self._probe, self._base, self._offset, list(self._derefs), self._kind,
                              self._size, self._space, self._at)


# ----------------------------------------------------------------------------------------
# Output and control

def printf(fmt, *args):
    """SystemTap's printf with C-style ``%`` formatting: ``printf("%s: %d\\n", pp(), pid())``.
    ``%%`` prints a percent sign. The text is buffered and reaches wprobe once per batch."""
    global _out_len
    text = fmt % args
    _out_append(text)
    _out_len += len(text)
    if _out_len >= FLUSH_AT:
        _flush()


def warn(fmt, *args):
    """SystemTap's warn(): ``WARNING: text`` on wprobe's stderr, after the output printed so far."""
    _flush()
    _ctx.warn(fmt % args if args else fmt)


def exit():
    """Ends the session after the current batch, as SystemTap's exit(); ``end`` still runs."""
    _flush()
    _ctx.exit()


class _Stdout:
    """sys.stdout: print() joins printf's buffer, so both reach the output in order."""

    encoding = "utf-8"

    def write(self, text):
        global _out_len
        _out_append(text)
        _out_len += len(text)
        if _out_len >= FLUSH_AT:
            _flush()
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


_sys.stdout = _Stdout()


def _flush():
    global _out_len
    if _out:
        text = "".join(_out)
        _out.clear()
        _out_len = 0
        _ctx.printf(text)


# ----------------------------------------------------------------------------------------
# Handlers

class Probe:
    """One probe of the session: ``id`` (what probe_id() returns), ``pp``, ``is_return``,
    ``fields`` (a tracepoint's fields: objects with ``name``, ``offset``, ``size``, ``kind``;
    empty for other probes)."""

    __slots__ = ("id", "pp", "is_return", "fields")

    def __init__(self, id, pp, is_return, fields=()):
        self.id = id
        self.pp = pp
        self.is_return = is_return
        self.fields = list(fields)

    def __repr__(self):
        return "Probe(id=%d, pp=%r, is_return=%r)" % (self.id, self.pp, self.is_return)


class Session:
    """What ``init`` learns: ``args`` (``--arg key=value`` pairs in order), ``probes``,
    ``arch`` ("x86_64" or "aarch64")."""

    def __init__(self, args, probes, arch):
        self.args = args
        self.probes = probes
        self.arch = arch
        self.captures = []
        self.timers = []

    def timer_ms(self, period_ms):
        """Asks for ``tick(timer)`` every ``period_ms`` milliseconds (at least 1): SystemTap's
        ``probe timer.ms(N)``. Returns the timer's number, which ``tick`` is called with."""
        self.timers.append(int(period_ms))
        return len(self.timers) - 1

    def timer_s(self, period_s):
        """``timer_ms`` in seconds: SystemTap's ``timer.s(N)``."""
        return self.timer_ms(int(period_s) * 1000)

    def capture(self, capture):
        """Declares memory to take at every hit (of every probe, or of the one
        ``Capture.probe`` names), for the memory accessors to read in ``event``."""
        self.captures.append(capture)
        return self

    def arg(self, key, default=None):
        """The value of ``--arg key=...`` (the last one if repeated), or ``default``."""
        for k, v in reversed(self.args):
            if k == key:
                return v
        return default


class Handler:
    """Base class for stateful handlers. Override ``event``; ``__init__(self, session)``
    (probe begin; raise to refuse to start) and ``end`` (probe end) are optional."""

    def __init__(self, session):
        pass

    def event(self):
        raise NotImplementedError("a wprobe Handler must define event(self)")

    def tick(self, timer):
        """Called every period of a timer declared with ``session.timer_ms``."""
        pass

    def end(self):
        pass


class _FunctionHandler:
    __slots__ = ("event",)

    def __init__(self, fn):
        self.event = fn

    def tick(self, timer):
        pass

    def end(self):
        pass


def handler(obj):
    """Registers the module's handler: a function (the probe body, run once per event) or a
    class (constructed with the Session, then ``event()`` per event and ``end()``).
    Usable as a decorator; returns ``obj`` unchanged."""
    global _factory
    if _factory is not None:
        raise RuntimeError("wprobe.handler: a handler is already registered (%r)" % (_factory,))
    _factory = obj
    return obj


def _message(e):
    if isinstance(e, AccessError):
        return str(e)
    where = ""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = " (%s:%d)" % (tb.tb_frame.f_code.co_filename.rsplit("/", 1)[-1], tb.tb_lineno)
    text = str(e)
    return "%s%s%s" % (type(e).__name__, ": " + text if text else "", where)


_batch = None            # the flat batch's bytes, while it is handled


def _malformed():
    raise ValueError("the host sent a malformed flat batch")


def _open_batch(flat):
    """Checks a flat batch whole before its first event runs (a 24-byte header, then
    ``count`` records of ``record-size`` bytes, each followed by its extension area when its
    flags have FLAG_EXT), sets the batch's state and returns its number of records."""
    global _u32, _u64, _views, _batch, _lost, _rec_size, _nregs, _slotq, _retq, _rs, _as, _compiled
    n = len(flat)
    if n % 8:
        # Every part of the layout is a multiple of 8 bytes; pad so that the word views fit.
        flat = bytes(flat) + bytes(8 - n % 8)
    u32 = memoryview(flat).cast("I")
    if n < _common.BATCH_HEADER_SIZE or u32[0] != _common.BATCH_MAGIC:
        _malformed()
    count = u32[_common.B_COUNT >> 2]
    size = u32[_common.B_RECORD_SIZE >> 2]
    if size < _common.RECORD_HEADER_SIZE or size % 8:
        _malformed()
    arch = _ARCHES.get(flat[_common.B_ARCH], _ARCHES[_common.ARCH_X86_64])
    if arch[0] is not _slotq:
        # The argument columns' offsets are the architecture's (in practice: the first batch).
        _used[:] = [spec for spec in _used if spec[3] >= 0]
        _compiled = None
        for columns in (_c_u64, _c_s64, _c_u32, _c_s32):
            columns.clear()
    _slotq, _retq, _nregs = arch
    _rec_size = size
    _batch = flat
    _u32 = u32
    _u64 = memoryview(flat).cast("Q")
    _views = {"I": u32, "Q": _u64}
    _lost = _u64[_common.B_LOST >> 3]
    first = _common.BATCH_HEADER_SIZE
    end = first + count * size
    if end > n:
        _malformed()
    # Every record's flags, were they all of the fixed size: up to the first one with an
    # extension area these are the records' own, so an extension shows here if there is one.
    if (not u32[(first >> 2) + _R_FLAGS] if count == 1
            else set(u32[(first >> 2) + _R_FLAGS:end >> 2:size >> 2]) <= _PLAIN):
        # Entry records only, each of the fixed size (the usual batch).
        _rs = range(first >> 2, end >> 2, size >> 2)
        _as = None
        if _used:
            _build_columns(first, end, size)
        return count
    rs = []
    args = []
    returns = False
    at = first
    for _ in range(count):
        nxt = at + size
        if nxt > n:
            _malformed()
        f = u32[(at >> 2) + _R_FLAGS]
        if f & _FLAG_EXT:
            if nxt + _common.EXT_HEADER_SIZE > n:
                _malformed()
            nxt += _common.EXT_HEADER_SIZE + u32[nxt >> 2]
            if nxt > n or nxt % 8:
                _malformed()
        rs.append(at >> 2)
        if not f & _FLAG_RETURN:
            args.append((at >> 3) + _R_REGS)
        else:
            e = _entry(at)
            args.append((e >> 3) + 1 if e >= 0 else None)
            returns = True
        at = nxt
    _rs = rs
    _as = args if returns else None
    if _used:
        _build_columns(first, end, size)
    return count


class WitWorld(wit_world.WitWorld):
    """The component's exports; componentize-py finds it in the app module."""

    def init(self, session):
        global _instance, _phase, _pp
        _phase = "init"
        try:
            _pp = {p.id: p.pp for p in session.probes}
            s = Session(
                [(k, v) for (k, v) in session.args],
                [Probe(p.id, p.pp, p.is_return, p.fields) for p in session.probes],
                "aarch64" if session.arch == _types.Arch.AARCH64 else "x86_64",
            )
            if _factory is None:
                raise RuntimeError("no handler registered: decorate the probe body or handler class with @handler")
            if isinstance(_factory, type):
                _instance = _factory(s)
            else:
                _instance = _FunctionHandler(_factory)
        except _Err:
            raise
        except BaseException as e:
            raise _Err(str(e) if isinstance(e, (ValueError, RuntimeError, KeyError)) and str(e) else _message(e))
        finally:
            _flush()
            _phase = "idle"
        return _types.HandlerConfig(_types.Delivery.FLAT, [c._to_wit() for c in s.captures], s.timers)

    def handle_batch(self, flat):
        global _in_event, _index, _phase, _lost, _i, _host_next, _u32, _u64, _views, _batch, _rs, _as
        if _instance is None:
            raise _Err("handle-batch called before a successful init")
        _phase = "batch"
        event = _instance.event
        _host_next = 0
        try:
            if flat is not None:
                count = _open_batch(flat)
                # The loop assigns the event's index straight to the global the accessors
                # read (one store per event); _in_event stays True through it (only the
                # handler runs).
                _in_event = True
                for _i in range(count):
                    event()
            else:
                _lost = _ctx.lost_events()
                nxt = _ctx.next
                i = 0
                while nxt():
                    _index = i
                    _in_event = True
                    event()
                    _in_event = False
                    i += 1
        except BaseException as e:
            # The host words where it happened from its cursor: put it on this event.
            if _u32 is not None and _in_event:
                _sync()
            _in_event = False
            raise _Err(_message(e))
        finally:
            _in_event = False
            _u32 = _u64 = _batch = _rs = _as = _i = None
            _views = {}
            _flush()
            _phase = "idle"

    def tick(self, timer):
        global _phase
        if _instance is None:
            raise _Err("tick called before a successful init")
        _phase = "tick"
        try:
            tick = getattr(_instance, "tick", None)
            if tick is not None:
                tick(timer)
        except BaseException as e:
            raise _Err(_message(e))  # the host's report names the timer
        finally:
            _flush()
            _phase = "idle"

    def end(self):
        global _phase
        if _instance is None:
            raise _Err("end called before a successful init")
        _phase = "end"
        try:
            _instance.end()
        except BaseException as e:
            raise _Err(_message(e))
        finally:
            _flush()
            _phase = "idle"


# The accessors that ask the host, generated from the WIT (they read this module's state,
# so they are imported last).
from wprobe_context import *  # noqa: E402,F401,F403
from wprobe_context import __all__ as _generated  # noqa: E402

__all__ += _generated

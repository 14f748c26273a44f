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
_in_event = False        # True while the cursor stands on an event
_index = 0               # index of the current event in its batch, from 0
_phase = "idle"          # "init", "batch", "end", "idle": for error reports
_lost = 0
_pp = {}                 # probe id -> pp string, from the session's probe table
_out = []                # pending printf text
_out_len = 0
# The flat batch (delivery "flat"): the record header's fields, the arguments and the return
# value are read from the batch's bytes, with no import call per accessor.
_u32 = None              # the batch as u32 words (memoryview), or None on the cursor path
_u64 = None              # the same as u64 words
_off = 0                 # the current record's byte offset in the batch
_w = 0                   # the same in u32 words
_q = 0                   # the current record's first register, in u64 words
_rec_size = 0            # bytes of a record's fixed part in the current batch
_nregs = _common.NREGS_X86_64
_slots = ()              # the batch's architecture's argument register slots
_ret_slot = 10
_host_next = 0           # next() calls made this batch: the host's cursor is on event _host_next - 1
# Register slots of the arguments passed in registers (wprobe_common::abi): x86_64 rdi rsi
# rdx rcx r8 r9, aarch64 x0..x7; the return value: rax, x0.
_ARG_SLOTS = {_common.ARCH_X86_64: (14, 13, 12, 11, 9, 8), _common.ARCH_AARCH64: (0, 1, 2, 3, 4, 5, 6, 7)}
_RET_SLOT = {_common.ARCH_X86_64: 10, _common.ARCH_AARCH64: 0}
_NREGS = {_common.ARCH_X86_64: _common.NREGS_X86_64, _common.ARCH_AARCH64: _common.NREGS_AARCH64}
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


def _sync():
    """Moves the host's cursor to the current event, for the accessors that ask the host."""
    global _host_next
    while _host_next <= _index:
        _ctx.next()
        _host_next += 1


def _to_host():
    """Before an accessor that asks the host (the generated ones): on a flat batch the host's
    cursor moves only when asked, so it is brought to the current event first."""
    if _u32 is not None:
        _sync()


def _entry():
    """The current record's entry item's data offset in the batch (u64 time, then the
    entry's registers), or -1 without one (attached mid-call, the entry lost)."""
    if not _u32[_w + _R_FLAGS] & _FLAG_EXT:
        return -1
    at = _off + _rec_size
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
    if not 1 <= n <= len(_slots):
        raise AccessError("no-such-argument", n)
    if not _u32[_w + _R_FLAGS] & _FLAG_RETURN:
        return _u64[_q + _slots[n - 1]]
    e = _entry()
    if e < 0:
        raise AccessError("no-entry")
    return _u64[(e >> 3) + 1 + _slots[n - 1]]


def _s64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


# ----------------------------------------------------------------------------------------
# Context accessors read from the flat record (no import call per event); outside an
# event they raise RuntimeError (the host would trap).

def pid():
    """Process id: the thread-group id of the task that hit the probe."""
    if not _in_event:
        _outside("pid")
    if _u32 is not None:
        return _u32[_w + _R_PID]
    return _ctx.pid()


def tid():
    """Thread id of the task."""
    if not _in_event:
        _outside("tid")
    if _u32 is not None:
        return _u32[_w + _R_TID]
    return _ctx.tid()


def uid():
    """Real user id of the task."""
    if not _in_event:
        _outside("uid")
    if _u32 is not None:
        return _u32[_w + _R_UID]
    return _ctx.uid()


def cpu():
    """CPU the probe fired on."""
    if not _in_event:
        _outside("cpu")
    if _u32 is not None:
        return _u32[_w + _R_CPU]
    return _ctx.cpu()


def timestamp_ns():
    """CLOCK_MONOTONIC at the hit, in nanoseconds."""
    if not _in_event:
        _outside("timestamp_ns")
    if _u32 is not None:
        return _u64[(_off >> 3) + _R_TIME]
    return _ctx.timestamp_ns()


def probe_id():
    """Index of the event's probe in the session's probe table."""
    if not _in_event:
        _outside("probe_id")
    if _u32 is not None:
        return _u32[_w + _R_PROBE_ID]
    return _ctx.probe_id()


def is_return():
    """True in a return probe."""
    if not _in_event:
        _outside("is_return")
    if _u32 is not None:
        return bool(_u32[_w + _R_FLAGS] & _FLAG_RETURN)
    return _ctx.is_return()


def pp():
    """The probe point in SystemTap's spelling, ``kprobe.function("tcp_v4_connect")``.
    Looked up in the probe table ``init`` received."""
    if not _in_event:
        _outside("pp")
    p = _pp.get(_u32[_w + _R_PROBE_ID] if _u32 is not None else _ctx.probe_id())
    if p is not None:
        return p
    if _u32 is not None:
        _sync()
    return _ctx.pp()


def execname():
    """The task's command name as captured at the hit (up to 15 bytes)."""
    if not _in_event:
        _outside("execname")
    if _u32 is not None:
        at = _off + _common.R_COMM
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

def _arg_accessor(name, imp, conv):
    # conv: the conversion of the flat register: "u64", "u32", "s32", "s64". The common case (an entry probe's argument) is inlined:
    # each Python call costs about a microsecond here.
    def accessor(n):
        if not _in_event:
            raise AccessError("no-current-event")
        if _u32 is not None:
            if 0 < n <= len(_slots) and not _u32[_w + _R_FLAGS] & _FLAG_RETURN:
                v = _u64[_q + _slots[n - 1]]
            else:
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
    accessor.__name__ = name
    accessor.__qualname__ = name
    return accessor


int_arg = _arg_accessor("int_arg", _ctx.int_arg, "s32")
uint_arg = _arg_accessor("uint_arg", _ctx.uint_arg, "u32")
long_arg = _arg_accessor("long_arg", _ctx.long_arg, "s64")
ulong_arg = _arg_accessor("ulong_arg", _ctx.ulong_arg, "u64")
longlong_arg = _arg_accessor("longlong_arg", _ctx.longlong_arg, "s64")
ulonglong_arg = _arg_accessor("ulonglong_arg", _ctx.ulonglong_arg, "u64")
pointer_arg = _arg_accessor("pointer_arg", _ctx.pointer_arg, "u64")
s32_arg = _arg_accessor("s32_arg", _ctx.s32_arg, "s32")
u32_arg = _arg_accessor("u32_arg", _ctx.u32_arg, "u32")
s64_arg = _arg_accessor("s64_arg", _ctx.s64_arg, "s64")
u64_arg = _arg_accessor("u64_arg", _ctx.u64_arg, "u64")


def returnval():
    """The return value register (rax, x0), signed. Return probes only."""
    if not _in_event:
        raise AccessError("no-current-event")
    if _u32 is not None:
        if not _u32[_w + _R_FLAGS] & _FLAG_RETURN:
            raise AccessError("not-a-return-probe")
        return _s64(_u64[_q + _ret_slot])
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


# Linux errno names: 1..133 as in the uapi headers, 512..530 the kernel-internal codes (the
# same table as the host's returnstr()); "" where Linux defines no code.
_ERRNO_NAMES = (
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
    "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST",
    "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY",
    "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE",
    "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG",
    "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI",
    "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT",
    "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK",
    "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW",
    "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX",
    "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ",
    "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT",
    "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS",
    "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED",
    "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM",
    "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
    "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD",
    "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
)
_ERRNO_INTERNAL = (
    "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ENOIOCTLCMD",
    "ERESTART_RESTARTBLOCK", "EPROBE_DEFER", "EOPENSTALE", "ENOPARAM", "", "EBADHANDLE",
    "ENOTSYNC", "EBADCOOKIE", "ENOTSUPP", "ETOOSMALL", "ESERVERFAULT", "EBADTYPE",
    "EJUKEBOX", "EIOCBQUEUED", "ERECALLCONFLICT",
)


def errno_str(e):
    """SystemTap's errno_str: the name of errno ``e`` of either sign (``"ENOENT"`` for 2 or
    -2), or None when Linux defines no such errno:
    ``r = int_returnval(); printf(f"{r} ({errno_str(r)})\\n")`` prints ``-2 (ENOENT)``."""
    e = abs(e)
    if 1 <= e <= 133:
        name = _ERRNO_NAMES[e - 1]
    elif 512 <= e <= 530:
        name = _ERRNO_INTERNAL[e - 512]
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

def _fallible(name, imp, flat=None):
    def accessor(*args):
        if not _in_event:
            raise AccessError("no-current-event")
        if _u32 is not None:
            if flat is not None:
                return flat(*args)
            _sync()
        try:
            return imp(*args)
        except _Err as e:
            raise _access_error(e) from None
    accessor.__name__ = name
    accessor.__qualname__ = name
    return accessor


#: In a return probe, CLOCK_MONOTONIC at the paired entry; AccessError "no-entry" if unseen.
def _flat_entry_timestamp_ns():
    if not _u32[_w + _R_FLAGS] & _FLAG_RETURN:
        raise AccessError("not-a-return-probe")
    e = _entry()
    if e < 0:
        raise AccessError("no-entry")
    return _u64[e >> 3]


def _flat_latency_ns():
    return max(0, _u64[(_off >> 3) + _R_TIME] - _flat_entry_timestamp_ns())


entry_timestamp_ns = _fallible("entry_timestamp_ns", _ctx.entry_timestamp_ns, _flat_entry_timestamp_ns)
#: In a return probe, nanoseconds from the paired entry to this return.
latency_ns = _fallible("latency_ns", _ctx.latency_ns, _flat_latency_ns)


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
    _out.append(text)
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
        _out.append(text)
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
    global _out, _out_len
    if _out:
        text = "".join(_out)
        _out = []
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


def _open_batch(flat):
    """Checks a flat batch whole before its first event runs (a 24-byte header, then
    ``count`` records of ``record-size`` bytes, each followed by its extension area when its
    flags have FLAG_EXT), sets the batch's state and returns every record's offset."""
    global _u32, _u64, _batch, _lost, _rec_size, _nregs, _slots, _ret_slot
    n = len(flat)
    if n % 8:
        # Every part of the layout is a multiple of 8 bytes; pad so that the word views fit.
        flat = bytes(flat) + bytes(8 - n % 8)
    u32 = memoryview(flat).cast("I")
    if n < _common.BATCH_HEADER_SIZE or u32[0] != _common.BATCH_MAGIC:
        raise ValueError("the host sent a malformed flat batch")
    count = u32[_common.B_COUNT >> 2]
    size = u32[_common.B_RECORD_SIZE >> 2]
    if size < _common.RECORD_HEADER_SIZE or size % 8:
        raise ValueError("the host sent a malformed flat batch")
    offsets = []
    at = _common.BATCH_HEADER_SIZE
    for _ in range(count):
        nxt = at + size
        if nxt > n:
            raise ValueError("the host sent a malformed flat batch")
        offsets.append(at)
        if u32[(at >> 2) + _R_FLAGS] & _FLAG_EXT:
            if nxt + _common.EXT_HEADER_SIZE > n:
                raise ValueError("the host sent a malformed flat batch")
            nxt += _common.EXT_HEADER_SIZE + u32[nxt >> 2]
            if nxt > n or nxt % 8:
                raise ValueError("the host sent a malformed flat batch")
        at = nxt
    arch = flat[_common.B_ARCH]
    _slots = _ARG_SLOTS.get(arch, _ARG_SLOTS[_common.ARCH_X86_64])
    _ret_slot = _RET_SLOT.get(arch, 10)
    _nregs = _NREGS.get(arch, _common.NREGS_X86_64)
    _rec_size = size
    _batch = flat
    _u64 = memoryview(flat).cast("Q")
    _lost = _u64[_common.B_LOST >> 3]
    _u32 = u32
    return offsets


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
        global _in_event, _index, _phase, _lost, _off, _w, _q, _host_next, _u32, _u64, _batch
        if _instance is None:
            raise _Err("handle-batch called before a successful init")
        _phase = "batch"
        event = _instance.event
        _host_next = 0
        try:
            if flat is not None:
                offsets = _open_batch(flat)
                i = 0
                for _off in offsets:
                    _index = i
                    _w = _off >> 2
                    _q = (_off >> 3) + _R_REGS
                    _in_event = True
                    event()
                    _in_event = False
                    i += 1
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
            _u32 = _u64 = _batch = None
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

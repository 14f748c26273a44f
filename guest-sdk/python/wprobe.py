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


# ----------------------------------------------------------------------------------------
# Context accessors the SDK answers itself.

def pp():
    """The probe point in SystemTap's spelling, ``kprobe.function("tcp_v4_connect")``.
    Looked up in the probe table ``init`` received: one small import call (probe_id) per use."""
    if not _in_event:
        _outside("pp")
    p = _pp.get(_ctx.probe_id())
    return p if p is not None else _ctx.pp()


def lost_events():
    """Events the kernel dropped (ring buffer full) before the current batch."""
    return _lost


def asmlinkage():
    """SystemTap's calling-convention hint; changes nothing on x86_64 and aarch64."""


# ----------------------------------------------------------------------------------------
# The accessors that ask the host (arguments, return value, registers, entry values,
# captured memory, tracepoint fields, pid() and the other context accessors) are generated
# from the WIT into wprobe_context.py and re-exported at the end of this module. Outside an
# event the fallible ones raise AccessError("no-current-event"), the others RuntimeError.

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
    try:
        _ctx.print_regs()
    except _Err as e:
        raise _access_error(e) from None


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
        return _types.HandlerConfig(_types.Delivery.CURSOR, [c._to_wit() for c in s.captures], s.timers)

    def handle_batch(self, flat):
        global _in_event, _index, _phase, _lost
        if _instance is None:
            raise _Err("handle-batch called before a successful init")
        _phase = "batch"
        _lost = _ctx.lost_events()
        event = _instance.event
        nxt = _ctx.next
        i = 0
        try:
            while nxt():
                _index = i
                _in_event = True
                event()
                _in_event = False
                i += 1
        except BaseException as e:
            # The host's cursor is on the event: the host words where it happened.
            _in_event = False
            raise _Err(_message(e))
        finally:
            _in_event = False
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

"""The program every sandboxed child runs: the candidate, the judge, and the value codec.

The parent compiles this file's text once and writes it, marshalled, into each child's job
memfd, which the `python -I -S -B -c` bootstrap executes (`_runner._child_program`). So it
must stay self-contained: stdlib only, no `import rlvr`, no module state from the parent,
nothing run at import (the bootstrap calls `_child_main`). The parent imports it as a
module too, for the codec and `_ASSERT_HELPER`: one copy of the wire format for both sides.
"""

import builtins
import json
import os
import sys

_ASSERT_HELPER = "_rlvr_assert_equal"  # the judge's name for _assert_equal in the tests' scope


# ------------------------------------------------------------------------------------------
# Values across the boundary: plain data as JSON, with tags for what JSON lacks.
# Used on both sides of the boundary, so stdlib only (imported lazily: children start fast).


def encode_value(value, ref_of=None, depth=0):
    """Plain data to a JSON-ready structure; tuples, sets, dicts, bytes, complex and
    non-finite floats are tagged ({"$tuple": [...]}, ...). Anything else goes to
    `ref_of(value)`, or raises TypeError when there is none.

    >>> encode_value((1, {"a": [2.5, None]}))
    {'$tuple': [1, {'$dict': [['a', [2.5, None]]]}]}
    """
    if depth > 200:
        raise ValueError("value is nested more than 200 levels deep")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if number == number and abs(number) != float("inf") else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list):
        return [encode_value(item, ref_of, depth + 1) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(item, ref_of, depth + 1) for item in tuple.__iter__(value)]}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: [encode_value(item, ref_of, depth + 1) for item in value]}
    if isinstance(value, dict):
        pairs = dict.items(value)
        return {"$dict": [[encode_value(k, ref_of, depth + 1), encode_value(v, ref_of, depth + 1)] for k, v in pairs]}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, complex):
        return {"$complex": [encode_value(value.real), encode_value(value.imag)]}
    import numbers

    if isinstance(value, numbers.Integral):  # numpy integers and the like
        return int(value)
    if isinstance(value, numbers.Real):
        return encode_value(float(value))
    if ref_of is not None:
        return ref_of(value)
    raise TypeError(f"a {type(value).__name__} object is not plain data (JSON-serialisable)")


def decode_value(obj, make_ref=None, depth=0):
    """The inverse of encode_value, building only plain builtins (or `make_ref(id, type)` for
    {"$ref": ...} when given). Anything malformed raises ValueError."""
    if depth > 200:
        raise ValueError("value is nested more than 200 levels deep")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode_value(item, make_ref, depth + 1) for item in obj]
    if type(obj) is not dict or not obj:
        raise ValueError(f"malformed value of type {type(obj).__name__}")
    tag = next(iter(obj))
    body = obj[tag]
    if tag == "$ref" and make_ref is not None and type(body) is int and set(obj) <= {"$ref", "type"}:
        return make_ref(body, str(obj.get("type", "object")))
    if len(obj) != 1:
        raise ValueError(f"malformed tagged value with keys {sorted(obj)[:5]}")
    if tag in ("$tuple", "$set", "$frozenset", "$dict") and type(body) is not list:
        raise ValueError(f"malformed {tag} value")
    if tag == "$tuple":
        return tuple(decode_value(item, make_ref, depth + 1) for item in body)
    if tag in ("$set", "$frozenset", "$dict"):
        if tag == "$dict" and any(type(pair) is not list or len(pair) != 2 for pair in body):
            raise ValueError("malformed $dict value")
        try:
            if tag == "$dict":
                return {decode_value(k, make_ref, depth + 1): decode_value(v, make_ref, depth + 1) for k, v in body}
            items = (decode_value(item, make_ref, depth + 1) for item in body)
            return set(items) if tag == "$set" else frozenset(items)
        except TypeError as exc:  # an unhashable element or key
            raise ValueError(f"malformed {tag} value: {exc}") from None
    if tag == "$bytes" and type(body) is str:
        import base64

        return base64.b64decode(body.encode("ascii"), validate=True)
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$complex" and type(body) is list and len(body) == 2:
        return complex(decode_value(body[0]), decode_value(body[1]))
    raise ValueError(f"malformed value with tag {tag[:20]!r}")


# ------------------------------------------------------------------------------------------
# The child side: the candidate (runs untrusted code) and the judge (runs the reference tests).


class _Broken(BaseException):
    """The judge's link to the candidate failed (it exited, or sent malformed data).
    A BaseException, so `except Exception` in test code cannot swallow it."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind


class _CandidateRaised(Exception):
    """Mixed into exceptions re-raised in the judge for a candidate's exception."""

    info: dict = {}


class _Unsupported(Exception):
    """The tests asked for something that cannot cross the boundary (e.g. pass a function)."""


class _Remote:
    """In the judge: a candidate object that is not plain data (a function, an instance).
    Calls and attribute reads go to the candidate process; equality is identity, so no
    candidate-defined `__eq__` ever decides an assertion."""

    __slots__ = ("_link", "_ref", "_type")

    def __init__(self, link, ref, type_name):
        self._link, self._ref, self._type = link, ref, type_name

    def __call__(self, *args, **kwargs):
        return self._link.ask({"op": "call", "ref": self._ref, "args": args, "kwargs": kwargs})

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return self._link.ask({"op": "getattr", "ref": self._ref, "name": name})

    def __repr__(self):
        return f"<candidate {self._type}>"


class _Link:
    """In the judge: the request/reply pipes to the candidate process."""

    def __init__(self, requests_fd, replies_fd, limit):
        self.requests = requests_fd
        self.replies = os.fdopen(replies_fd, "rb")
        self.limit = limit
        self.calls = 0
        self.broken = None
        self.raised = {}

    def _fail(self, kind, detail):
        self.broken = self.broken or _Broken(kind, detail)
        raise self.broken

    def receive(self):
        if self.broken is not None:
            raise self.broken
        line = self.replies.readline(self.limit + 1)
        if not line:
            self._fail("candidate_gone", "the candidate process stopped answering")
        if len(line) > self.limit or not line.endswith(b"\n"):
            self._fail("protocol", "the candidate sent an oversized or unterminated record")
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            self._fail("protocol", f"the candidate sent a record that is not JSON: {line[:80]!r}")
        if not isinstance(record, dict):
            self._fail("protocol", "the candidate sent a record that is not an object")
        return record

    def ask(self, request):
        if self.broken is not None:
            raise self.broken
        if request["op"] == "call":
            self.calls += 1
            request = dict(request, args=self._encode(list(request["args"])), kwargs=self._encode(request["kwargs"]))
        try:
            _send(self.requests, request, self.limit)
        except (BrokenPipeError, ValueError) as exc:
            self._fail("candidate_gone", f"could not send to the candidate: {exc}")
        reply = self.receive()
        if set(reply) == {"error"}:
            raise self._reraise(reply["error"])
        if set(reply) == {"value"}:
            return self._decode(reply["value"])
        if set(reply) == {"names"} and isinstance(reply["names"], dict):
            return {name: self._decode(value) for name, value in reply["names"].items()}
        self._fail("protocol", f"unexpected reply {str(reply)[:80]}")

    def _encode(self, value):
        def ref_of(obj):
            if isinstance(obj, _Remote):
                return {"$ref": obj._ref}
            name = type(obj).__name__
            raise _Unsupported(f"the tests pass a {name} to the candidate, which cannot cross the sandbox")

        return encode_value(value, ref_of)

    def _decode(self, value):
        try:
            return decode_value(value, lambda ref, type_name: _Remote(self, ref, type_name))
        except (ValueError, TypeError, RecursionError) as exc:
            self._fail("protocol", f"the candidate sent a malformed value: {exc}")

    def _reraise(self, info):
        """The candidate's exception as one the tests can catch by the builtin exceptions its
        type derives from: `except ValueError` (or `pytest.raises(ValueError)`) catches the
        candidate's `class InvalidInput(ValueError)`, `except TypeError` does not.

        The record names those builtins (see `_describe`). It is untrusted, but naming a builtin
        gains nothing over raising it; each name is looked up in the judge's own builtins, so no
        class of the candidate's is ever made, called or asked here (its `__subclasscheck__`,
        `__eq__` or metaclass cannot take part), and a name that is not a builtin Exception
        counts for nothing: such an error is caught only by `except Exception`."""
        if not isinstance(info, dict):
            self._fail("protocol", "malformed error record")
        names = info.get("builtins")
        if not isinstance(names, list):
            names = [info.get("type")]
        ancestry = []  # the builtins it derives from, most derived first
        for name in names[:64]:
            base = getattr(builtins, str(name), None)
            if not (isinstance(base, type) and issubclass(base, Exception)):
                continue
            if issubclass(base, (StopIteration, StopAsyncIteration)):
                # PEP 479 for the candidate's calls: raised as itself, a StopIteration would end the
                # iteration that made the call (`all(map(f, xs))` would be True). Converted here, in
                # the judge, so that a forged error record cannot get around it either.
                base = RuntimeError
            if base is not Exception and base not in ancestry:
                ancestry.append(base)
        leaves = tuple(b for b in ancestry if not any(o is not b and issubclass(o, b) for o in ancestry))
        message = str(info.get("line", ""))
        # All the most derived builtins at once (`class E(KeyError, ValueError)`); where they cannot be
        # combined or the builtin needs other arguments (UnicodeDecodeError), the nearest one that can.
        for bases in (leaves, *((base,) for base in ancestry)):
            try:
                exc = self._raised_class(bases)(message)
                break
            except Exception:
                continue
        else:
            exc = _CandidateRaised(message)
        exc.info = info
        return exc

    def _raised_class(self, bases):
        """A class deriving from the builtin `bases` and _CandidateRaised, made once per link.
        _CandidateRaised comes last: it derives from Exception, which each builtin base does too."""
        cls = self.raised.get(bases)
        if cls is None:
            name = bases[0].__name__ if bases else "Exception"
            cls = self.raised[bases] = type(name, (*bases, _CandidateRaised), {})
        return cls


def _describe(exc):
    """An exception as a JSON record: type, last traceback line, where in the candidate."""
    import errno

    name = type(exc).__name__
    try:
        if isinstance(exc, SyntaxError):
            line = f"{name}: {exc.msg} (line {exc.lineno})"
        else:
            text = str(exc)
            line = f"{name}: {text}" if text else name
    except BaseException:
        line = name
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<candidate>":
            where = f"line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    denied = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENETUNREACH, errno.EAFNOSUPPORT)
    try:  # the builtin exceptions it derives from, by which the judge re-raises it (_Link._reraise)
        ancestry = [cls.__name__ for cls in type(exc).__mro__ if vars(builtins).get(cls.__name__) is cls][:64]
    except BaseException:  # a metaclass that lies about __mro__ or __name__: described by its type alone
        ancestry = []
    return {
        "type": name,
        "builtins": ancestry,
        "line": line[:500],
        "where": where,
        "memory": isinstance(exc, MemoryError),
        "forbidden": isinstance(exc, OSError) and exc.errno in denied,
    }


def _send(fd, record, limit):
    data = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
    if len(data) > limit:
        raise ValueError(f"a record of {len(data)} bytes is over the {limit}-byte limit")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child_main(job_bytes):
    job = json.loads(job_bytes)
    sys.path.extend(job["sys_path"])
    _refuse_new_namespaces()
    if job["role"] == "ping":
        _send(job["out"], {"pong": True}, job["max_message"])
    elif job["role"] == "candidate":
        _candidate_main(job)
    else:
        _judge_main(job)


def _refuse_new_namespaces():
    """Install a seccomp filter, before any candidate code runs, that refuses new namespaces:
    unshare and setns fail with EPERM, clone with a CLONE_NEW* flag too, and clone3 (whose
    flags sit in memory a filter cannot read) with ENOSYS, so that libc falls back to clone.
    Without it an unprivileged child could make a user namespace, be uid 0 there, and then
    make network and mount namespaces. io_uring_setup, io_uring_enter and io_uring_register
    fail with EPERM too (what a kernel with io_uring disabled answers): io_uring is a large
    kernel attack surface that no test needs. Filters cannot be removed and pass to every child.
    On x86_64 an i386 syscall kills the process and an x32 one fails with ENOSYS. On
    architectures other than x86_64 and aarch64 no filter is installed (module docstring)."""
    import ctypes
    import errno
    import struct

    numbers = {  # AUDIT_ARCH, clone, unshare, setns, clone3, io_uring_setup (enter and register follow it)
        "x86_64": (0xC000003E, 56, 272, 308, 435, 425),
        "aarch64": (0xC00000B7, 220, 97, 268, 435, 425),
    }.get(os.uname().machine)
    if numbers is None:
        return
    arch, clone, unshare, setns, clone3, io_uring_setup = numbers
    new_namespace = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K
    allow, kill = 0x7FFF0000, 0x80000000  # SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS  # SECCOMP_RET_ERRNO | errno
    # (code, jump if true, jump if false, k): a jump names the instruction it goes to ("" for
    # the next one). seccomp_data holds the syscall number at 0, the arch at 4, args[0] at 16.
    program = [
        ("", load, "", "", 4),
        ("", jeq, "", "kill", arch),
        ("", load, "", "", 0),
        ("", jge, "enosys", "", 0x40000000),  # x32 numbers
        ("", jeq, "eperm", "", unshare),
        ("", jeq, "eperm", "", setns),
        ("", jeq, "eperm", "", io_uring_setup),
        ("", jeq, "eperm", "", io_uring_setup + 1),  # io_uring_enter
        ("", jeq, "eperm", "", io_uring_setup + 2),  # io_uring_register
        ("", jeq, "enosys", "", clone3),
        ("", jeq, "", "allow", clone),
        ("", load, "", "", 16),  # clone's flags: the low 32 bits hold every CLONE_NEW*
        ("", jset, "eperm", "", new_namespace),
        ("allow", ret, "", "", allow),
        ("eperm", ret, "", "", eperm),
        ("enosys", ret, "", "", enosys),
        ("kill", ret, "", "", kill),
    ]
    at = {label: i for i, (label, *_) in enumerate(program) if label}
    code = b"".join(
        struct.pack("HBBI", op, at[true] - i - 1 if true else 0, at[false] - i - 1 if false else 0, k)
        for i, (_, op, true, false, k) in enumerate(program)
    )
    buffer = ctypes.create_string_buffer(code, len(code))

    class Program(ctypes.Structure):  # struct sock_fprog
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Program(len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the seccomp filter that refuses new namespaces could not be installed")


def _candidate_main(job):
    """Execute the candidate's code; then answer calls (mode "calls": the parent's list,
    results to the parent) or serve the judge's requests (mode "serve")."""
    import types

    out, limit = job["out"], job["max_message"]
    module = sys.modules["__candidate__"] = types.ModuleType("__candidate__")  # not __main__: no main guard runs
    namespace = module.__dict__
    try:
        code = compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        _send(out, {"load": "syntax_error", "error": _describe(exc)}, limit)
        return
    try:
        exec(code, namespace)
    except BaseException as exc:
        _send(out, {"load": "error", "error": _describe(exc)}, limit)
        return
    if job["mode"] == "serve":
        _send(out, {"load": "ok"}, limit)
        _serve(job, namespace)
        return
    function = namespace.get(job["entry_point"])
    if not callable(function):
        missing = {"type": "NameError", "line": f"the code does not define a function {job['entry_point']}()"}
        _send(out, {"load": "error", "error": missing}, limit)
        return
    _send(out, {"load": "ok"}, limit)
    for i, (args, kwargs) in enumerate(job["calls"]):
        try:
            record = {"call": i, "value": encode_value(function(*decode_value(args), **decode_value(kwargs)))}
            _send(out, record, limit)
        except BaseException as exc:
            _send(out, {"call": i, "error": _describe(exc)}, limit)
    _send(out, {"done": True}, limit)


def _serve(job, namespace):
    """Answer the judge: {"op": "names"|"call"|"getattr"} requests, one reply line each."""
    requests = os.fdopen(job["requests"], "rb")
    out, limit = job["out"], job["max_message"]
    refs = []

    def ref_of(obj):
        refs.append(obj)
        return {"$ref": len(refs) - 1, "type": type(obj).__name__}

    while True:
        line = requests.readline(limit + 1)
        if not line:
            return
        try:
            request = json.loads(line)
            if request["op"] == "names":
                found = {n: encode_value(namespace[n], ref_of) for n in request["names"] if n in namespace}
                reply = {"names": found}
            elif request["op"] == "call":
                args = decode_value(request["args"], lambda ref, _: refs[ref])
                kwargs = decode_value(request["kwargs"], lambda ref, _: refs[ref])
                reply = {"value": encode_value(refs[request["ref"]](*args, **kwargs), ref_of)}
            else:
                reply = {"value": encode_value(getattr(refs[request["ref"]], request["name"]), ref_of)}
            _send(out, reply, limit)
        except BaseException as exc:
            _send(out, {"error": _describe(exc)}, limit)


def _judge_main(job):
    """Run the reference tests with the candidate's names bound to proxies; send one record."""
    import binascii
    import marshal

    out, limit = job["out"], job["max_message"]

    def report(result, **fields):
        _send(out, {"result": result, **fields}, limit)

    scope = {"__name__": "__rlvr_tests__", "__builtins__": builtins, _ASSERT_HELPER: _assert_equal}
    entry_point = job["entry_point"]
    wanted = set(job["wanted"])
    try:
        exec(marshal.loads(binascii.a2b_base64(job["prelude"])), scope)
        scope.pop(entry_point, None)  # the prompt's stub; the tests may call it by name
    except BaseException as exc:
        report("bad_reference", detail=f"the reference prompt does not run: {_describe(exc)['line']}")
        return
    code = marshal.loads(binascii.a2b_base64(job["tests"]))
    try:  # `math.isclose`, `np.isclose` in the tests: the judge's own modules, never the candidate's
        modules, unavailable = _import_modules(job["modules"])
    except BaseException as exc:
        detail = f"a module the tests use does not import in the sandbox: {_describe(exc)['line']}"
        report("bad_reference", detail=detail)
        return
    if unavailable:
        detail = f"the tests use {', '.join(unavailable)} without importing it, and the sandbox cannot import it"
        report("bad_reference", detail=detail)
        return
    link = _Link(job["requests"], job["replies"], limit)
    missing = set()
    try:
        load = link.receive()
        if load.get("load") != "ok":
            report("candidate_load", load=str(load.get("load")), error=load.get("error"))
            return
        asked = (wanted - set(modules)) | ({entry_point} if entry_point else set())
        found = link.ask({"op": "names", "names": sorted(asked)})
        if not isinstance(found, dict):
            link._fail("protocol", "the candidate answered a request for names with something else")
        found = {name: value for name, value in found.items() if name in asked}
        missing = wanted - set(found) - set(modules)
        scope.update((name, value) for name, value in found.items() if name in wanted and name not in scope)
        scope.update(modules)
        if entry_point and entry_point not in found:
            report("missing_name", name=entry_point)
            return
        exec(code, scope)
        if entry_point:
            if not callable(scope.get("check")):
                report("bad_reference", detail="the HumanEval-style test does not define check(candidate)")
                return
            scope["check"](found[entry_point])
    except _Broken as exc:
        report(exc.kind, detail=str(exc))
        return
    except _CandidateRaised as exc:
        report("candidate_error", error=exc.info)
        return
    except _Unsupported as exc:
        report("bad_reference", detail=str(exc))
        return
    except AssertionError as exc:
        report("assertion", detail=str(exc)[:1000] or "an assertion failed")
        return
    except NameError as exc:
        if exc.name in missing:
            report("missing_name", name=exc.name)
        else:
            report("test_error", error=_describe(exc))
        return
    except BaseException as exc:
        report("test_error", error=_describe(exc))
        return
    if link.broken is not None:  # the tests caught it; the run still failed
        report(link.broken.kind, detail=str(link.broken))
    elif link.calls == 0:
        report("bad_reference", detail="the tests never call the candidate's code")
    else:
        report("passed", calls=link.calls)


def _import_modules(modules):
    """The judge's own imports for the names the tests use as `name.attr` without binding them
    (`math`, `np`), as (name -> module, the names that must be the judge's but cannot be).

    `modules` holds [name, module, reserved] (see `_reference._module_names`). A module that
    imports here is bound to its name, whatever the candidate defines under it. One that does
    not is absent here for the candidate too (they share an interpreter), so a name that can only
    be a module (reserved: a standard module's, a conventional alias) is a bad reference; any
    other is left to the candidate, whose class it is (`Solution.twoSum`)."""
    import importlib
    import importlib.util

    found, unavailable = {}, []
    for name, module, reserved in modules:
        try:
            spec = importlib.util.find_spec(module.partition(".")[0])
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            found[name] = importlib.import_module(module)
        elif reserved:
            unavailable.append(name if name == module else f"{name} ({module})")
    return found, unavailable


def _assert_equal(left, right, text, got_is_right):
    if left == right:
        return True
    got, expected = (right, left) if got_is_right else (left, right)
    raise AssertionError(f"{text}: expected {repr(expected)[:300]}, got {repr(got)[:300]}")

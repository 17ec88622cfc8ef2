"""The `tools` environment, its three built-in tools, and plain classes whose methods are tools.

    "env": {"name": "tools", "tools": ["calculator", "python", "sql"], "max_turns": 4}

Each assistant turn is read for <tool_call> blocks (toolcalls.py). A turn with none ends the
episode: it is the final answer, which the task's verifier judges. Otherwise every call runs and
the results, joined, are the observation. Nothing a call does raises out of `step`: an unknown
tool, a malformed call, wrong arguments, a tool's error and a time-out each become an observation
starting "error:", and an observation longer than `max_observation_chars` is cut.

The built-in tools reuse what the verifiers trust with model text:

    calculator  the math verifier's safe parser (rlvr.verifiers._mathparse): numbers, operators,
                functions and constants, with its size limits; never `eval`. Variables,
                equations, lists and anything that is not arithmetic are refused.
    python      the code verifier's sandbox (rlvr.sandbox): a fresh sandboxed process per call,
                no network, a private filesystem, time, memory, process and output limits.
                Refused at construction (ConfigError) where the host has no sandbox.
    sql         the SQL verifier's two guards (rlvr.verifiers.sql): one read-only SELECT by
                sqlglot's parse, then SQLite opened read-only with an authorizer and a deadline.
                The database is the `db` option, else the task reference's "db".

A plain class (no `step` method) is the convenient layer, in the shape TRL users know: each
public method with type hints and a docstring is a tool, and an optional `reset(**task)` sees
the task's fields at the start of each episode. `ClassTools(obj)` makes it an environment; a
task spec naming such a class gets that wrapper. In-process tools (the calculator and a class's
methods) run on a daemon thread and are abandoned, with a time-out observation, after `timeout`
seconds: Python cannot kill a thread, so one that never returns keeps its CPU until exit.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from typing import Any, Callable, ClassVar, Mapping

from rlvr._errors import ConfigError
from rlvr.envs.base import Step, register_env
from rlvr.envs.toolcalls import Tool, ToolError, check_arguments, parse_tool_calls

__all__ = ["ClassTools", "ToolsEnv", "opening_messages", "tool_names"]

_ENTRY = "__rlvr_tool_main__"  # the function the python tool's program ends with, called once
_MAX_ROWS_SHOWN = 50
_MAX_EXACT_CHARS = 200  # longer exact values are shown as a 15-digit decimal


def opening_messages(task: Mapping[str, Any]) -> list[dict]:
    """The first messages of an episode: the task's prompt, as chat messages."""
    prompt = task.get("prompt")
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
        return [dict(m) for m in prompt]
    raise ConfigError("a task for an environment needs a 'prompt': a string or a list of chat messages.")


class _ToolRunner:
    """Runs the tool calls of one assistant turn; shared by the `tools` environment and ClassTools."""

    observation_role: ClassVar[str] = "tool"
    tools: dict[str, Tool]

    def __init__(self, max_observation_chars: int, max_calls_per_turn: int, timeout: float,
                 call_reward: float = 0.0) -> None:
        for name, value in (("max_observation_chars", max_observation_chars),
                            ("max_calls_per_turn", max_calls_per_turn)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"environment option {name} must be a positive integer, got {value!r}.")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
            raise ConfigError(f"environment option timeout must be a positive number of seconds, got {timeout!r}.")
        self.max_observation_chars, self.max_calls_per_turn, self.timeout = (
            max_observation_chars, max_calls_per_turn, float(timeout))
        if isinstance(call_reward, bool) or not isinstance(call_reward, (int, float)) or not math.isfinite(call_reward):
            raise ConfigError(f"environment option call_reward must be a number, got {call_reward!r}.")
        self.call_reward = float(call_reward)

    @property
    def tool_names(self) -> list[str]:
        return sorted(self.tools)

    def tool_list(self) -> list[Tool]:
        """The tools, for `chat_messages` and `tools=` of a chat template."""
        return [self.tools[name] for name in self.tool_names]

    def step(self, assistant_text: str) -> Step:
        calls = parse_tool_calls(assistant_text)
        if not calls:
            return Step(None, done=True, info={"final": True})
        results, errors = [], 0
        for index, call in enumerate(calls):
            if index == self.max_calls_per_turn:
                results.append(f"error: at most {self.max_calls_per_turn} tool calls a turn; "
                               f"{len(calls) - index} more were not run.")
                errors += 1
                break
            text, failed = self._run(call.name, call.arguments, call.error)
            results.append(text)
            errors += failed
        observation = _truncate("\n".join(results), self.max_observation_chars)
        reward = self.call_reward if errors == 0 else 0.0  # a turn whose every call was read and ran
        return Step(observation, reward=reward, info={"calls": [c.name for c in calls], "errors": errors})

    def _run(self, name: str, arguments: dict | None, parse_error: str) -> tuple[str, bool]:
        """(observation text, whether it is an error) of one call. Never raises."""
        if parse_error:
            return f"error: {parse_error}.", True
        tool = self.tools.get(name)
        if tool is None:
            return f"error: there is no tool '{name}'; the tools are: {', '.join(self.tool_names)}.", True
        problem = check_arguments(tool, arguments or {})
        if problem:
            return f"error: {problem}.", True
        return _call_with_timeout(tool, arguments or {}, self._timeout_of(tool))

    def _timeout_of(self, tool: Tool) -> float:
        return self.timeout


def _call_with_timeout(tool: Tool, arguments: dict, timeout: float) -> tuple[str, bool]:
    outcome: list[tuple[str, bool]] = []

    def target() -> None:
        try:
            outcome.append((str(tool.function(**arguments)), False))
        except ToolError as exc:
            outcome.append((f"error: {exc}", True))
        except BaseException as exc:  # noqa: BLE001 - a tool's bug (even sys.exit) is an observation, not a crash
            outcome.append((f"error: {type(exc).__name__}: {exc}", True))

    thread = threading.Thread(target=target, name=f"rlvr-tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"error: tool '{tool.name}' ran past its {timeout:g} s time limit and was abandoned.", True
    return outcome[0]


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [observation truncated: {len(text) - limit} more characters]"


# ------------------------------------------------------------------------------------------
# The built-in tools


def calculate(expression: str) -> str:
    """Evaluate one arithmetic expression exactly (numbers, + - * / ^, sqrt, sin, log, pi, ...).

    Args:
        expression: the expression, e.g. 37*29 or sqrt(2)/3
    """
    from rlvr.verifiers._mathparse import MathParseError, Scalar, parse_math

    try:
        parsed = parse_math(expression)
    except MathParseError as exc:
        raise ToolError(f"the calculator cannot read this: {exc}") from None
    if not isinstance(parsed, Scalar) or parsed.label or parsed.unit or parsed.percent or parsed.degrees:
        raise ToolError("the calculator takes one arithmetic expression, such as 37*29.")
    value = parsed.expr
    if value.free_symbols:
        names = ", ".join(sorted(str(s) for s in value.free_symbols))
        raise ToolError(f"the calculator does arithmetic on numbers only, but the expression has variables ({names}).")
    return _show(value)


def _show(value: Any) -> str:
    """The exact value when it is short, and its 15-digit decimal when that says something more."""
    approx = str(value.evalf(15))
    try:
        exact = str(value)
    except ValueError:  # an integer over Python's 4300-digit str() limit somewhere inside
        exact = ""
    if len(exact) > _MAX_EXACT_CHARS or not exact:
        return f"about {approx}"
    if value.is_Integer or exact == approx:
        return exact
    return f"{exact} = {approx}"


def _python_tool(sandbox: Any, max_output_chars: int) -> Callable[[str], str]:
    def python(code: str) -> str:
        """Run a Python program in a fresh sandbox (no network, no files kept) and return what it prints.

        Args:
            code: the program; print what you want to see
        """
        report = sandbox.call(f"{code}\n\n\ndef {_ENTRY}():\n    return None\n", _ENTRY, [([], {})])
        output = report.output[-max_output_chars:]
        if report.timed_out:
            raise ToolError(f"the program ran past its {sandbox.limits.timeout:g} s time limit. Output:\n{output}")
        if report.protocol_error:
            raise ToolError("the program broke the sandbox's result channel; nothing it reported is trusted.")
        if report.load in ("syntax_error", "error") and report.load_error is not None:
            raise ToolError(f"{report.load_error}" + (f"\nOutput before it:\n{output}" if output.strip() else ""))
        if report.load != "ok":
            raise ToolError(f"the program ended before it finished ({report.candidate_exit}). Output:\n{output}")
        return output if output.strip() else "(the program printed nothing)"

    return python


def _sql_tool(database: Callable[[], str | None], tables: tuple[str, ...] | None, timeout: float,
              max_rows: int) -> Callable[[str], str]:
    def sql(query: str) -> str:
        """Run one read-only SQL SELECT on the task's database and return its rows.

        Args:
            query: one SELECT statement
        """
        from rlvr.verifiers.sql import QueryRefused, read_only_query

        db = database()
        if not db or not os.path.isfile(db):
            raise ToolError("this task has no database for the sql tool.")
        whitelist = None if tables is None else frozenset(t.lower() for t in tables)
        try:
            columns, rows = read_only_query(db, query, tables=whitelist, timeout=timeout, max_rows=max_rows)
        except QueryRefused as exc:
            raise ToolError(str(exc)) from None
        shown = "\n".join(" | ".join(repr(v) for v in row) for row in rows[:_MAX_ROWS_SHOWN])
        more = len(rows) - _MAX_ROWS_SHOWN
        tail = f"\n... ({more}{'+' if len(rows) > max_rows else ''} more rows)" if more > 0 else ""
        return f"{len(rows) if len(rows) <= max_rows else f'over {max_rows}'} rows, {columns} columns\n{shown}{tail}"

    return sql


_BUILTIN_TOOLS = ("calculator", "python", "sql")


def tool_names() -> list[str]:
    """The tools the `tools` environment offers by name."""
    return sorted(_BUILTIN_TOOLS)


@register_env("tools")
class ToolsEnv(_ToolRunner):
    """The built-in tool environment.

    tools:                 which of calculator, python, sql the model may call.
    max_observation_chars: an observation (all of one turn's results) is cut to this length.
    max_calls_per_turn:    calls beyond this in one turn are not run (an error says so).
    timeout:               seconds one call may take (the python tool's sandbox, a SQL query).
    memory_mb:             address-space limit of the python tool's process.
    db, tables:            the sql tool's database (else the task reference's "db") and table whitelist.
    call_reward:           the per-turn reward of a turn whose every tool call was read and ran (0: none; a
                           control that pays for the call syntax alone sets it and a zero final reward).
    """

    def __init__(self, tools: list[str] | tuple[str, ...] = ("calculator",), max_observation_chars: int = 2000,
                 max_calls_per_turn: int = 4, timeout: float = 5.0, memory_mb: int = 512,
                 db: str | None = None, tables: list[str] | None = None, call_reward: float = 0.0) -> None:
        super().__init__(max_observation_chars, max_calls_per_turn, timeout, call_reward)
        if isinstance(tools, str) or not isinstance(tools, (list, tuple)) or not tools:
            raise ConfigError(f"environment 'tools': option tools is a list of tool names, got {tools!r}.")
        unknown = [t for t in tools if t not in _BUILTIN_TOOLS]
        if unknown:
            raise ConfigError(
                f"environment 'tools': unknown tool {unknown[0]!r}; choose from {', '.join(tool_names())}.")
        if tables is not None and (isinstance(tables, str) or not all(isinstance(t, str) for t in tables)):
            raise ConfigError(f"environment 'tools': option tables is a list of table names, got {tables!r}.")
        self._db, self._task_db = db, None
        self.tools = {}
        for name in tools:
            self.tools[name] = self._build(name, memory_mb, tables)

    def _build(self, name: str, memory_mb: int, tables: list[str] | None) -> Tool:
        if name == "calculator":
            return Tool.from_function(calculate, "calculator")
        if name == "python":
            from rlvr.sandbox import Sandbox, SandboxLimits

            sandbox = Sandbox(SandboxLimits(timeout=self.timeout, memory_mb=memory_mb))  # ConfigError if none here
            return Tool.from_function(_python_tool(sandbox, self.max_observation_chars), "python")
        return Tool.from_function(
            _sql_tool(lambda: self._db or self._task_db, None if tables is None else tuple(tables),
                      self.timeout, max_rows=10_000), "sql")

    def _timeout_of(self, tool: Tool) -> float:
        # python and sql enforce `timeout` themselves (a killed process, an interrupted query); the
        # thread's limit is only a backstop that leaves them time to report it.
        return self.timeout if tool.name == "calculator" else 2 * self.timeout + 5

    def reset(self, task: Mapping[str, Any]) -> list[dict]:
        reference = task.get("reference")
        self._task_db = reference.get("db") if isinstance(reference, dict) else None
        return opening_messages(task)


class ClassTools(_ToolRunner):
    """An environment from a plain object whose public typed, documented methods are its tools.

        class Shop:
            def reset(self, **task):            # optional: sees the task's fields each episode
                self.stock = {"apple": 3}
            def count(self, item: str) -> int:
                '''How many of an item are in stock.

                Args:
                    item: the item's name
                '''
                return self.stock.get(item, 0)

        env = ClassTools(Shop())
    """

    OPTIONS: ClassVar[tuple[str, ...]] = ("max_observation_chars", "max_calls_per_turn", "timeout", "call_reward")

    def __init__(self, obj: Any, max_observation_chars: int = 2000, max_calls_per_turn: int = 4,
                 timeout: float = 5.0, call_reward: float = 0.0) -> None:
        super().__init__(max_observation_chars, max_calls_per_turn, timeout, call_reward)
        self.obj = obj
        self.tools = {}
        for name, method in inspect.getmembers(obj, inspect.ismethod):
            if not name.startswith("_") and name != "reset":
                self.tools[name] = Tool.from_function(method, name)
        if not self.tools:
            raise ConfigError(f"{type(obj).__name__} has no public methods to offer as tools.")

    def reset(self, task: Mapping[str, Any]) -> list[dict]:
        messages = opening_messages(task)
        reset = getattr(self.obj, "reset", None)
        if callable(reset):
            params = inspect.signature(reset).parameters.values()
            takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
            names = {p.name for p in params}
            extra = reset(**{k: v for k, v in task.items() if takes_all or k in names})
            if isinstance(extra, str) and extra:  # TRL's convention: text added to the prompt
                messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{extra}"}
        return messages

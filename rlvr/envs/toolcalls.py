r"""Tools as the model sees them: their JSON schemas, the tag format of a call, and chat rendering.

The one documented format (Hermes / Qwen, the one most chat templates with `tools=` emit):

    <tool_call>
    {"name": "calculator", "arguments": {"expression": "37*29"}}
    </tool_call>

An assistant turn may hold several calls; each runs in order. A turn with none is a final answer.
The result goes back as an observation with role "tool". A tokenizer whose chat template takes
`tools=` (its source mentions `tools`) renders the schemas and the tool turns itself; for any
other template `chat_messages` writes the schemas and this format into a system message and
sends each observation as a user message wrapped in <tool_response>...</tool_response>.

A tool's schema comes from a plain function or method (`function_schema`): its name, the first
paragraph of its docstring, and one property per typed parameter, described by the docstring's
"Args:" section, as transformers' `get_json_schema` reads them.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal

from rlvr._errors import ConfigError

__all__ = ["Tool", "ToolCall", "ToolError", "chat_messages", "function_schema", "parse_tool_calls",
           "template_has_tools", "tools_prompt"]

_CALL = re.compile(r"<tool_call>(.*?)(</tool_call>|$)", re.DOTALL)
_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               list: "array", dict: "object"}


class ToolError(Exception):
    """A tool's expected failure (bad input, no such table): its message becomes the observation."""


@dataclass(frozen=True)
class Tool:
    """One callable tool: `function(**arguments) -> str`, described by a JSON schema."""

    name: str
    description: str
    parameters: dict  # a JSON schema of type "object"
    function: Callable[..., str]

    def schema(self) -> dict:
        """The OpenAI-style function schema chat templates take in `tools=`."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    @classmethod
    def from_function(cls, function: Callable[..., Any], name: str | None = None) -> Tool:
        schema = function_schema(function)
        return cls(name or schema["name"], schema["description"], schema["parameters"], function)


@dataclass(frozen=True)
class ToolCall:
    """One call read from assistant text; `error` says why it could not be read (then nothing runs)."""

    name: str = ""
    arguments: dict | None = None
    error: str = ""


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The calls in an assistant turn, in order; a malformed one is a ToolCall with `error` set.

    >>> parse_tool_calls('<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"}}</tool_call>')
    [ToolCall(name='calculator', arguments={'expression': '2+2'}, error='')]
    """
    calls = []
    for match in _CALL.finditer(text):
        body, closed = match.group(1).strip(), match.group(2)
        if not closed:
            calls.append(ToolCall(error="the <tool_call> tag is not closed with </tool_call>"))
            continue
        calls.append(_read_call(body))
    return calls


def _read_call(body: str) -> ToolCall:
    try:
        data = json.loads(body)
    except ValueError as exc:
        return ToolCall(error=f"the tool call is not JSON ({exc})")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return ToolCall(error='a tool call is a JSON object {"name": ..., "arguments": {...}}')
    arguments = data.get("arguments", {})
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    if not isinstance(arguments, dict):
        return ToolCall(name=data["name"], error="the tool call's 'arguments' must be a JSON object")
    return ToolCall(name=data["name"], arguments=arguments)


def check_arguments(tool: Tool, arguments: dict) -> str:
    """Why `arguments` do not fit the tool's schema (one sentence), or "" when they do."""
    properties, required = tool.parameters.get("properties", {}), tool.parameters.get("required", [])
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        return f"tool '{tool.name}' has no argument '{unknown[0]}'; its arguments are: {', '.join(properties)}"
    missing = [name for name in required if name not in arguments]
    if missing:
        return f"tool '{tool.name}' needs the argument '{missing[0]}'"
    for name, value in arguments.items():
        wanted = properties[name].get("type")
        if wanted and not _has_type(value, wanted):
            return f"tool '{tool.name}': argument '{name}' must be of type {wanted}, got {type(value).__name__}"
        if "enum" in properties[name] and value not in properties[name]["enum"]:
            return f"tool '{tool.name}': argument '{name}' must be one of {properties[name]['enum']}"
    return ""


def _has_type(value: Any, wanted: str | list) -> bool:
    if isinstance(wanted, list):
        return any(_has_type(value, w) for w in wanted)
    checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
              "null": lambda v: v is None}
    return checks.get(wanted, lambda v: True)(value)


# ------------------------------------------------------------------------------------------
# Schemas from type hints and docstrings


def function_schema(function: Callable[..., Any]) -> dict:
    """{"name", "description", "parameters"} of a typed, documented function or method.

    >>> def add(a: int, b: int = 0) -> int:
    ...     '''Add two numbers.
    ...
    ...     Args:
    ...         a: the first number
    ...         b: the second number
    ...     '''
    >>> function_schema(add)["parameters"]["required"]
    ['a']
    """
    name = function.__name__
    doc = inspect.getdoc(function) or ""
    if not doc.strip():
        raise ConfigError(f"tool '{name}' has no docstring; write one line saying what it does (the model reads it).")
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError) as exc:  # a hint naming something its module does not define
        raise ConfigError(f"tool '{name}': its type hints cannot be read ({exc}); use str, int, float, bool, "
                          "list, dict or Literal.") from None
    described = _arg_descriptions(doc)
    properties: dict[str, dict] = {}
    required = []
    for param in inspect.signature(function).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name not in hints:
            raise ConfigError(f"tool '{name}': parameter '{param.name}' has no type hint; add one (str, int, ...).")
        prop = _json_type(hints[param.name], name, param.name)
        if param.name in described:
            prop["description"] = described[param.name]
        properties[param.name] = prop
        if param.default is param.empty:
            required.append(param.name)
    description = doc.split("\n\n")[0].strip().replace("\n", " ")
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}


def _json_type(hint: Any, tool: str, param: str) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if origin is Literal:
        return {"type": _JSON_TYPES.get(type(args[0]), "string"), "enum": list(args)}
    if origin in (list, tuple, dict):
        return {"type": _JSON_TYPES[list if origin is tuple else origin]}
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            inner = _json_type(kinds[0], tool, param)
            return {**inner, "type": [inner["type"], "null"]} if len(args) > 1 else inner
    raise ConfigError(f"tool '{tool}': parameter '{param}' has type {hint!r}, which has no JSON schema; "
                      "use str, int, float, bool, list, dict, Literal[...] or Optional of one.")


def _arg_descriptions(doc: str) -> dict[str, str]:
    """name -> description from a Google-style "Args:" section."""
    out: dict[str, str] = {}
    section = re.split(r"^\s*(?:Args|Arguments|Parameters):\s*$", doc, maxsplit=1, flags=re.MULTILINE)
    if len(section) < 2:
        return out
    for line in section[1].splitlines():
        match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)", line)
        if match:
            out[match.group(1)] = match.group(2).strip()
        elif line.strip() and not line.startswith((" ", "\t")):
            break  # the next section
    return out


# ------------------------------------------------------------------------------------------
# Rendering for a chat template


def template_has_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders `tools=` (its source mentions `tools`)."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("tool_use") or template.get("default")
    return isinstance(template, str) and "tools" in template


def tools_prompt(tools: list[Tool]) -> str:
    """The system text that describes tools and the call format, for templates without `tools=`."""
    lines = ["You can call these tools. To call one, write", "<tool_call>",
             '{"name": <tool name>, "arguments": <arguments as a JSON object>}', "</tool_call>",
             "and wait for the result, which comes back in <tool_response></tool_response>. "
             "When you have the answer, reply without a tool call.", "<tools>"]
    lines += [json.dumps(tool.schema()) for tool in tools]
    lines.append("</tools>")
    return "\n".join(lines)


def chat_messages(messages: list[dict], tools: list[Tool], tokenizer: Any) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools argument) to hand to `tokenizer.apply_chat_template` for a tool conversation.

    With a template that takes `tools=`: the messages unchanged and the schemas. Otherwise: the
    tools described in the system message, and "tool" turns as user turns in <tool_response> tags.
    """
    if not tools or template_has_tools(tokenizer):
        return list(messages), [tool.schema() for tool in tools] or None
    described = tools_prompt(tools)
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0]['content']}\n\n{described}"
    else:
        out.insert(0, {"role": "system", "content": described})
    for message in out:
        if message.get("role") == "tool":
            message["role"] = "user"
            message["content"] = f"<tool_response>\n{message['content']}\n</tool_response>"
    return out, None

"""The `tools` environment: the call format, the calculator and sql tools, and every way a call can
go wrong, each of which must come back as an observation."""

from __future__ import annotations

import json
import sqlite3
from typing import Literal, Optional

import pytest

from rlvr._errors import ConfigError
from rlvr.envs import Tool, ToolError, ToolsEnv, chat_messages, get_env, parse_tool_calls, tool_names
from rlvr.envs.toolcalls import ToolCall, function_schema, template_has_tools, tools_prompt
from rlvr.envs.tools import calculate

P = pytest.param


def call(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


# -- the call format ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    P("The answer is 4.", [], id="no-call"),
    P(call("calculator", expression="2+2"), [ToolCall("calculator", {"expression": "2+2"})], id="one"),
    P("Let me compute.\n" + call("a", x=1) + "\nand\n" + call("b"), [ToolCall("a", {"x": 1}), ToolCall("b", {})],
      id="two-with-prose"),
    P('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>', [ToolCall("a", {"x": 1})],
      id="arguments-as-a-json-string"),
    P("<tool_call>{not json}</tool_call>", [ToolCall(error="the tool call is not JSON")], id="bad-json"),
    P('<tool_call>{"name": "a"', [ToolCall(error="the <tool_call> tag is not closed")], id="unclosed"),
    P('<tool_call>["a", 1]</tool_call>', [ToolCall(error='a tool call is a JSON object')], id="not-an-object"),
    P('<tool_call>{"arguments": {}}</tool_call>', [ToolCall(error='a tool call is a JSON object')], id="no-name"),
    P('<tool_call>{"name": "a", "arguments": [1]}</tool_call>',
      [ToolCall("a", error="the tool call's 'arguments' must be a JSON object")], id="arguments-a-list"),
])
def test_parse_tool_calls(text, expected):
    got = parse_tool_calls(text)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g.name, g.arguments if not e.error else None) == (e.name, e.arguments if not e.error else None)
        assert g.error.startswith(e.error) and bool(g.error) == bool(e.error)


# -- the calculator -------------------------------------------------------------------------------------


@pytest.mark.parametrize("expression, expected", [
    ("37*29", "1073"),
    ("2^10", "1024"),
    ("2**10", "1024"),
    ("1/3", "1/3 = 0.333333333333333"),
    ("0.1 + 0.2", "3/10 = 0.300000000000000"),  # exact decimals, never binary floats
    ("sqrt(2)", "sqrt(2) = 1.41421356237310"),
    (r"\frac{3}{4} \cdot 8", "6"),
    ("sin(pi/6)", "1/2 = 0.500000000000000"),
    ("100!", "93326215443944152681699238856266700490715968264381621468592963895217599993229915608941463976156518286"
             "253697920827223758251185210916864000000000000000000000000"),
    ("10^10000", "about 1.00000000000000e+10000"),  # too long to show exactly, and past str()'s digit limit
    ("10000!", "about 2.84625968091705e+35659"),
])
def test_the_calculator_does_arithmetic(expression, expected):
    assert calculate(expression) == expected


@pytest.mark.parametrize("expression, reason", [
    P("__import__('os').system('id')", "cannot read", id="dunder-import"),
    P("os.system('id')", "cannot read", id="attribute"),
    P("().__class__.__bases__[0]", "cannot read", id="class-walk"),
    P("lambda: 1", "cannot read", id="lambda"),
    P("eval('1')", "cannot read", id="eval"),
    P("open('/etc/passwd')", "cannot read", id="open"),
    P("exec('x=1')", "cannot read", id="exec"),
    P("'a' * 10", "cannot read", id="string"),
    P("x + 1", r"has variables \(x\)", id="variable"),
    P("x = 3", "one arithmetic expression", id="equation"),
    P("(1, 2)", "one arithmetic expression", id="tuple"),
    P("[1, 5)", "one arithmetic expression", id="interval"),
    P("50%", "one arithmetic expression", id="percent"),
    P("9^{9^{9^9}}", "too large", id="tower"),
    P("2^(10^10)", "too large", id="huge-exponent"),
    P("100001!", "cannot read", id="huge-factorial"),
    P("(" * 200 + "1" + ")" * 200, "cannot read", id="deep-nesting"),
    P("1" * 5000, "cannot read", id="too-long"),
    P("1/0", "divides by zero", id="division-by-zero"),
    P("", "cannot read", id="empty"),
])
def test_the_calculator_refuses_anything_but_arithmetic(expression, reason):
    with pytest.raises(ToolError, match=reason):
        calculate(expression)


def test_a_calculator_error_is_an_observation():
    env = ToolsEnv()
    step = env.step(call("calculator", expression="__import__('os')"))
    assert step.observation.startswith("error: the calculator cannot read this") and not step.done
    assert step.info == {"calls": ["calculator"], "errors": 1}


# -- every failure is an observation -------------------------------------------------------------------


@pytest.mark.parametrize("text, observation", [
    P(call("shell", cmd="ls"), "error: there is no tool 'shell'; the tools are: calculator.", id="unknown-tool"),
    P(call("calculator", expr="1"), "error: tool 'calculator' has no argument 'expr'; its arguments are: expression.",
      id="unknown-argument"),
    P(call("calculator"), "error: tool 'calculator' needs the argument 'expression'.", id="missing-argument"),
    P(call("calculator", expression=3), "error: tool 'calculator': argument 'expression' must be of type string, "
      "got int.", id="wrong-type"),
    P("<tool_call>{'name': 'calculator'}</tool_call>", "error: the tool call is not JSON", id="malformed"),
    P('<tool_call>{"name": "calculator", "arguments": {"expression": "1"}}', "error: the <tool_call> tag is not "
      "closed with </tool_call>.", id="unclosed"),
])
def test_a_bad_call_becomes_an_observation(text, observation):
    step = ToolsEnv().step(text)
    assert step.observation.startswith(observation) and not step.done and step.info["errors"] == 1


def test_a_turn_without_a_call_ends_the_episode():
    step = ToolsEnv().step("The answer is 42.")
    assert step.observation is None and step.done


def test_several_calls_run_in_order_up_to_the_limit():
    env = ToolsEnv(max_calls_per_turn=2)
    step = env.step(call("calculator", expression="1+1") + call("calculator", expression="2*3")
                    + call("calculator", expression="4"))
    assert step.observation == "2\n6\nerror: at most 2 tool calls a turn; 1 more were not run."


def test_observations_are_truncated_to_the_configured_length():
    env = ToolsEnv(max_observation_chars=20)
    step = env.step(call("calculator", expression="3^100"))
    assert step.observation == "51537752073201133103\n... [observation truncated: 28 more characters]"


# -- sql ----------------------------------------------------------------------------------------------


@pytest.fixture
def shop_db(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE fruit(name TEXT, n INT); INSERT INTO fruit VALUES ('apple', 3), ('pear', 5);"
                      "CREATE TABLE secret(code TEXT); INSERT INTO secret VALUES ('s3cr3t');")
    con.commit()
    con.close()
    return str(path)


def test_the_sql_tool_reads_the_task_database(shop_db):
    env = ToolsEnv(tools=["sql"])
    env.reset({"prompt": "How many fruit?", "reference": {"db": shop_db, "gold": "SELECT 1"}})
    step = env.step(call("sql", query="SELECT name, n FROM fruit ORDER BY n"))
    assert step.observation == "2 rows, 2 columns\n'apple' | 3\n'pear' | 5"


@pytest.mark.parametrize("query, reason", [
    P("DELETE FROM fruit", "forbidden: a SELECT statement only: got DELETE", id="delete"),
    P("UPDATE fruit SET n = 0", "forbidden: a SELECT statement only: got UPDATE", id="update"),
    P("DROP TABLE fruit", "forbidden: a SELECT statement only: got DROP", id="drop"),
    P("ATTACH DATABASE '/tmp/x.db' AS x", "forbidden: a SELECT statement only: got ATTACH", id="attach"),
    P("PRAGMA table_info(fruit)", "forbidden: a SELECT statement only: got PRAGMA", id="pragma"),
    P("SELECT * FROM pragma_table_info('fruit')", "forbidden: pragma_table_info runs a PRAGMA", id="pragma-function"),
    P("SELECT 1; DELETE FROM fruit", "forbidden: one statement only: got 2", id="two-statements"),
    P("SELECT load_extension('x')", "forbidden: function load_extension() is not allowed", id="load-extension"),
    P("SELECT * FROM nowhere", "runtime_error: OperationalError: no such table", id="no-table"),
    P("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r", "timeout",
      id="endless"),
])
def test_the_sql_tool_refuses_anything_but_one_read(shop_db, query, reason):
    env = ToolsEnv(tools=["sql"], timeout=0.5)
    env.reset({"prompt": "p", "reference": {"db": shop_db, "gold": "SELECT 1"}})
    step = env.step(call("sql", query=query))
    assert step.observation.startswith("error: " + reason), step.observation
    con = sqlite3.connect(shop_db)
    assert con.execute("SELECT count(*) FROM fruit").fetchone() == (2,)  # nothing was written
    con.close()


def test_the_sql_tool_keeps_to_its_table_whitelist(shop_db):
    env = ToolsEnv(tools=["sql"], db=shop_db, tables=["fruit"])
    env.reset({"prompt": "p"})
    step = env.step(call("sql", query="SELECT code FROM secret"))
    assert step.observation == "error: forbidden: table 'secret' is not in the table whitelist"


def test_the_sql_tool_without_a_database_says_so():
    env = ToolsEnv(tools=["sql"])
    env.reset({"prompt": "p", "reference": "42"})
    assert env.step(call("sql", query="SELECT 1")).observation == "error: this task has no database for the sql tool."


# -- schemas and rendering --------------------------------------------------------------------------


def test_the_tools_environment_offers_its_tools_by_name():
    assert tool_names() == ["calculator", "python", "sql"]
    schema = ToolsEnv().tool_list()[0].schema()
    assert schema["function"]["name"] == "calculator"
    assert schema["function"]["parameters"] == {
        "type": "object", "required": ["expression"],
        "properties": {"expression": {"type": "string", "description": "the expression, e.g. 37*29 or sqrt(2)/3"}}}


def test_function_schema_reads_types_and_defaults():
    def lookup(name: str, limit: int = 3, mode: Literal["exact", "prefix"] = "exact",
               tags: Optional[list] = None) -> str:
        """Find a record.

        Args:
            name: what to find
            limit (int): at most this many
        """
        return name

    params = function_schema(lookup)["parameters"]
    assert params["required"] == ["name"]
    assert params["properties"]["limit"] == {"type": "integer", "description": "at most this many"}
    assert params["properties"]["mode"] == {"type": "string", "enum": ["exact", "prefix"]}
    assert params["properties"]["tags"] == {"type": ["array", "null"]}


class _Template:
    def __init__(self, template: str) -> None:
        self.chat_template = template


def test_a_template_without_tools_gets_the_tag_format_in_the_system_message():
    tools = [Tool.from_function(calculate, "calculator")]
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": call("calculator")},
                {"role": "tool", "content": "4"}]
    out, tools_arg = chat_messages(messages, tools, _Template("{% for m in messages %}{{ m.content }}{% endfor %}"))
    assert tools_arg is None
    assert out[0] == {"role": "system", "content": tools_prompt(tools)}
    assert '"name": "calculator"' in out[0]["content"] and "<tool_call>" in out[0]["content"]
    assert out[3] == {"role": "user", "content": "<tool_response>\n4\n</tool_response>"}
    assert messages[2]["role"] == "tool"  # the caller's list is untouched


def test_a_template_with_tools_gets_the_schemas():
    tools = [Tool.from_function(calculate, "calculator")]
    template = _Template("{% if tools %}{{ tools | tojson }}{% endif %}"
                         "{% for m in messages %}{{ m.content }}{% endfor %}")
    assert template_has_tools(template)
    messages = [{"role": "user", "content": "hi"}]
    out, tools_arg = chat_messages(messages, tools, template)
    assert out == messages and tools_arg == [tools[0].schema()]


def test_call_reward_pays_a_turn_whose_calls_all_ran_and_nothing_else():
    env = get_env({"name": "tools", "tools": ["calculator"], "call_reward": 0.5})
    env.reset({"prompt": "37*29?"})
    good = '<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>'
    assert env.step(good).reward == 0.5
    assert env.step('<tool_call>{"name": "calculator", "arguments": {"expression": "1/0"}}</tool_call>').reward == 0
    assert env.step("<tool_call>{not json}</tool_call>").reward == 0
    assert env.step("1073").reward == 0 and get_env("tools").step(good).reward == 0  # off by default
    with pytest.raises(ConfigError, match="call_reward must be a number"):
        get_env({"name": "tools", "call_reward": "yes"})

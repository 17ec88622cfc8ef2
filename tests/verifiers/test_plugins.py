"""Data files run no code: a "module:function" verifier path imports its module only when allowed.

The modules here are written into tmp_path and put on sys.path; importing one appends a line to a
marker file, so a test sees whether anything was imported (in this process or in a worker).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rlvr.verifiers.rubric as rubric_module
from rlvr._errors import ConfigError, DataError
from rlvr.cli import main
from rlvr.tasks import Task
from rlvr.tasks.judge import check_verifiers
from rlvr.train.config import load_config
from rlvr.verifiers import allow_plugins, get_verifier, shutdown_workers
from rlvr.verifiers._plugins import PluginNotAllowed

TRACED = ("tracemod", "tracepkg", "tracepkg.sub")


def traced_module(marker) -> str:
    return (f"import pathlib\npathlib.Path({str(marker)!r}).open('a').write(__name__ + '\\n')\n\n"
            "def check(completion, reference):\n    return 1.0\n\n"
            "def other(completion, reference):\n    return 0.0\n")


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """The marker file that the traced modules (tracemod, tracepkg, tracepkg.sub) append to on import."""
    marker = tmp_path / "imported.txt"
    folder = tmp_path / "modules"
    (folder / "tracepkg").mkdir(parents=True)
    (folder / "tracemod.py").write_text(traced_module(marker))
    (folder / "tracepkg" / "__init__.py").write_text(traced_module(marker))
    (folder / "tracepkg" / "sub.py").write_text(traced_module(marker))
    monkeypatch.syspath_prepend(str(folder))
    yield marker
    for name in TRACED:
        sys.modules.pop(name, None)
    shutdown_workers()  # a worker that imported a traced module must not serve the next test
    rubric_module._function.cache_clear()


def imported(marker) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


# Every way a spec in a data file can name a module: refused, with nothing imported.
REFUSED = [
    "tracemod:check",
    {"name": "tracemod:check", "time_limit": 2},
    {"name": "compose", "parts": [{"verifier": "math"}, {"verifier": "tracemod:check", "weight": 0.5}]},
    {"name": "rubric", "criteria": [{"name": "c", "weight": 1, "check": "tracemod:check"}]},
    {"name": "remote", "target": "tracemod:check"},
    "tracepkg.sub:check",
]


@pytest.mark.parametrize("spec", REFUSED)
def test_a_path_is_refused_before_its_module_is_imported(spec, marker):
    with pytest.raises(ConfigError, match=r"--allow-plugin (tracemod|tracepkg\.sub) \(plugins: \[") as caught:
        get_verifier(spec)
    assert "\n" not in str(caught.value) and str(caught.value).count(". ") == 0  # one sentence
    assert imported(marker) == [] and not set(TRACED) & set(sys.modules)


def test_os_popen_is_refused_and_runs_nothing(tmp_path):
    """The issue's exploit: a task whose verifier is "os:popen" ran each completion as a shell command."""
    with pytest.raises(ConfigError, match="would import and run the Python module 'os'"):
        get_verifier("os:popen")
    with pytest.raises(ConfigError, match="--allow-plugin os "):
        get_verifier({"name": "remote", "target": "os:system"})


@pytest.mark.parametrize("spec", REFUSED)
def test_an_allowed_module_is_imported_and_checks(spec, marker):
    allow_plugins("tracemod", "tracepkg")
    verdict = get_verifier(spec).verify("The answer is \\boxed{4}.", "4")
    assert verdict.reward > 0 and verdict.reason in ("ok", "partial", "by function")
    assert imported(marker)


def test_an_isolated_check_runs_in_a_spawned_worker_with_the_parents_allow_list(marker):
    allow_plugins("tracemod")
    verifier = get_verifier("tracemod:check", isolated=True)
    assert [v.reward for v in verifier.verify_batch([("a", 1), ("b", 2)], workers=2)] == [1.0, 1.0]
    assert len(imported(marker)) >= 2  # this process (to check it is callable) and a worker


def test_a_reference_criterion_is_judged_by_the_same_list_in_the_worker(marker):
    """A rubric reference may bring its own "check" callable: data, so refused (bad_reference) unless
    allowed, and the worker process that reads it knows the parent's list."""
    rubric = get_verifier("rubric", isolated=True)
    reference = {"criteria": [{"name": "c", "weight": 1, "check": "tracemod:check"}]}
    refused = rubric.verify("text", reference)
    assert refused.reward == 0.0 and refused.reason == "bad_reference" and "--allow-plugin tracemod" in refused.detail
    assert imported(marker) == []
    shutdown_workers()  # the next verify starts a worker that is handed the new list
    allow_plugins("tracemod")
    allowed = rubric.verify("text", reference)
    assert allowed.reward == 1.0 and allowed.reason == "ok" and imported(marker) == ["tracemod"]  # worker only


def test_a_package_allows_its_submodules_but_not_a_name_it_prefixes(marker):
    allow_plugins("tracepkg")
    assert get_verifier("tracepkg.sub:check").verify("x", None).reward == 1.0
    allow_plugins("trace")
    with pytest.raises(ConfigError, match="--allow-plugin tracemod"):
        get_verifier("tracemod:check")


def test_a_path_entry_allows_that_one_path(marker):
    allow_plugins("tracemod:check")
    assert get_verifier("tracemod:check").verify("x", None).reward == 1.0
    with pytest.raises(ConfigError, match="--allow-plugin tracemod"):
        get_verifier("tracemod:other")


def test_a_function_object_needs_no_opt_in_and_allows_nothing_else(marker):
    allow_plugins("tracemod")
    import tracemod

    from rlvr.verifiers._plugins import restore_plugin_state

    restore_plugin_state((frozenset(), frozenset()))  # forget the opt-in: only the object is at hand
    assert get_verifier(tracemod.check).verify("x", None).reward == 1.0
    assert get_verifier("tracemod:check").verify("x", None).reward == 1.0  # the same object, by its path
    with pytest.raises(ConfigError, match="--allow-plugin tracemod"):
        get_verifier("tracemod:other")


@pytest.mark.parametrize("name", ["", "os; rm -rf ~", "a..b", "1mod", "mod:", "mod:a b", 3])
def test_a_plugin_must_be_a_module_name(name):
    with pytest.raises(ConfigError, match="module name|'package.module:attribute'"):
        allow_plugins(name)


def test_the_training_config_lists_plugins_by_module_name():
    assert load_config(None, ["plugins=[mypkg.checks, other]"]).plugins == ("mypkg.checks", "other")
    assert load_config(None, []).plugins == ()
    for bad in ("plugins=['os; rm']", "plugins=[1]", "plugins=[mod:fn]"):
        with pytest.raises(ConfigError, match="plugins"):
            load_config(None, [bad])


# A remote verifier's endpoint decides the rewards and receives every completion: an address in a data file needs
# the same opt-in, for its origin.


class _Judge(BaseHTTPRequestHandler):
    """Pays every completion: what a task file's author could point a remote verifier at."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.requests.append(self.rfile.read(int(self.headers["Content-Length"])))
        payload = b'{"reward": 1.0}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def judge(monkeypatch):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    httpd.requests = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_an_endpoint_in_a_data_file_is_refused_until_its_origin_is_allowed(judge):
    origin = f"http://127.0.0.1:{judge.server_address[1]}"
    task = Task(id="t", prompt="2 + 2?", reference="4", verifier={"name": "remote", "url": origin + "/verify"})
    with pytest.raises(DataError, match=rf"would send every completion and its reference to {origin} and take its "
                                        rf"rewards .* pass --allow-plugin {origin} "):
        check_verifiers([task], "tasks.jsonl")
    assert judge.requests == []  # refused when built: nothing was sent
    allow_plugins(origin.upper().replace("HTTP://", "http://") + "/another/path")  # an origin, any path of it
    check_verifiers([task], "tasks.jsonl")
    assert get_verifier(task.verifier).verify("5", "4").reward == 1.0 and len(judge.requests) == 1


@pytest.mark.parametrize(("allowed", "url", "ok"), [
    ("https://Judge.Example.com", "https://judge.example.com:443/v", True),  # the default port is the same origin
    ("https://judge.example.com/", "http://judge.example.com/v", False),  # another scheme
    ("https://judge.example.com", "https://judge.example.com:8443/v", False),  # another port
    ("https://judge.example.com", "https://judge.example.com.evil.test/v", False),  # a host it prefixes
    ("http://[::1]:8000", "http://[::1]:8000/v", True),
])
def test_an_allowed_origin_is_scheme_host_and_port(allowed, url, ok):
    allow_plugins(allowed)
    if ok:
        assert get_verifier({"name": "remote", "url": url}).url == url
    else:
        with pytest.raises(PluginNotAllowed, match="would send every completion"):
            get_verifier({"name": "remote", "url": url})


def test_an_address_typed_on_the_command_line_is_the_users_own(capsys):
    # rlvr verify: the user typed the endpoint; nothing listens on the discard port, so the check fails closed
    assert main(["verify", "--verifier", "remote", "--option", "url=http://127.0.0.1:9/v", "--option", "timeout=2",
                 "--reference", "4", "--completion", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "http_error"


@pytest.mark.parametrize("bad", ["http://", "https://:80/", "http://host:port/"])
def test_an_address_entry_must_have_a_host(bad):
    with pytest.raises(ConfigError, match="address"):
        allow_plugins(bad)
    with pytest.raises(ConfigError, match="address"):
        load_config(None, [f"plugins=['{bad}']"])


def test_the_training_config_takes_an_endpoints_origin():
    assert load_config(None, ["plugins=[mypkg.checks, 'https://judge.example.com']"]).plugins == (
        "mypkg.checks", "https://judge.example.com")

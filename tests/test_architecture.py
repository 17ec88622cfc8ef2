"""The package's shape, as docs/architecture.md draws it: imports only run down the layers, no module imports
another that imports it back (directly or round a longer cycle), every sub-package's public names
are pinned here, and building the command line loads no torch."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rlvr"

# Bottom to top. A module may import its own sub-package and any layer below it, never one above.
LAYERS = ["_errors", "_spawn", "_lazy", "_io", "rundir", "config", "", "sandbox", "verifiers", "envs", "tasks", "models",
          "monitor", "evaluate", "train", "sft", "audit", "report", "workflows", "integrations", "cli"]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (annotations only, never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for child in ast.walk(inner):
                    if isinstance(child, (ast.Import, ast.ImportFrom)):
                        lines.add(child.lineno)
    return lines


def _imports() -> dict[str, set[str]]:
    """module -> the rlvr modules it imports anywhere (module level or inside a function)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            # (The only imports by name, importlib.import_module in the command table and in the lazy
            # __init__ files, load modules of their own sub-package.)
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("rlvr") and target != name:
                    graph[name].add(target)
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_sees_every_kind_of_import():
    graph = _imports()
    assert "rlvr.models.generation" in graph["rlvr.models.sampler"]  # module level
    assert "rlvr.train.trainer" in graph["rlvr.workflows.spurious"]  # inside a function
    assert "rlvr.models.loading" not in graph["rlvr.models.generation"]  # under TYPE_CHECKING: not an import


def test_imports_only_run_down_the_layers():
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in _imports().items()
        for target in targets
        if LAYERS.index(_layer(target)) > LAYERS.index(_layer(source))
    )
    assert upward == []


def test_no_module_imports_another_that_imports_it_back():
    graph = _imports()
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


# -- the run directory has one owner: rlvr/rundir.py names its files ---------------------------------
# Names that only a run file has: no string in the code outside the owner may contain them (a message
# says f"{RunDir.METRICS}"). Docstrings and comments may: they document the layout.
RUN_FILE_NAMES = ("metrics.jsonl", "samples.jsonl", "health.jsonl", "sync.jsonl", "spurious.json", "trainer_state.pt",
                  "eval/base.json", "eval/final.json")
# Names other files share (a user's config.yaml, `rlvr audit --json audit.json`): refused as a whole string
# (a path part). Common words (a stage "eval", a logger "tensorboard") only on the right of `/`.
RUN_PATH_PARTS = ("config.yaml", "base.json", "final.json", "audit.json", "checkpoints", "mlruns")
RUN_PATH_WORDS = ("eval", "model", "latest", "tensorboard")
RUN_DIR_OWNERS = {"rlvr.rundir"}


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    return {id(n.body[0].value) for n in nodes
            if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _run_file_mentions(name: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and node.right.value in RUN_PATH_WORDS:
            found.append((node.lineno, f"{name}:{node.lineno}: / {node.right.value!r}"))
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docs:
            continue
        hits = [f for f in RUN_FILE_NAMES if f in node.value] + [p for p in RUN_PATH_PARTS if node.value == p]
        found += [(node.lineno, f"{name}:{node.lineno}: {hit!r}") for hit in hits]
    return [text for _, text in sorted(found)]


def test_only_the_run_directory_names_its_files():
    mentions = [m for name, path in sorted(_modules().items()) if name not in RUN_DIR_OWNERS
                for m in _run_file_mentions(name, path)]
    assert mentions == []


def test_the_run_file_check_sees_a_path_and_a_message(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('"""Writes metrics.jsonl."""\n# metrics.jsonl\nA = run / "eval" / "x.json"\n'
                      'B = f"no {x} metrics.jsonl here"\nC = "config.yaml"\n')
    assert _run_file_mentions("m", source) == ["m:3: / 'eval'", "m:4: 'metrics.jsonl'", "m:5: 'config.yaml'"]


# -- one engine factory: only rlvr/models/ builds a sampler (open_engine), so `engine: vllm` holds everywhere --
ENGINE_BUILDERS = ("HFEngine", "VLLMEngine", "make_engine")


def _engine_builds(name: str, path: Path) -> list[str]:
    """'module:line: Builder(' for each call of an engine's constructor or of make_engine in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in ENGINE_BUILDERS:
                found.append(f"{name}:{node.lineno}: {called}(")
    return found


def test_no_module_outside_models_builds_an_engine():
    builds = [hit for name, path in sorted(_modules().items()) if not name.startswith("rlvr.models")
              for hit in _engine_builds(name, path)]
    assert builds == []


def test_the_engine_check_sees_every_kind_of_call(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("e = HFEngine(p)\nf = models.VLLMEngine(p)\ng = make_engine('hf', p)\nh = open_engine(s)\n")
    assert _engine_builds("m", source) == ["m:1: HFEngine(", "m:2: VLLMEngine(", "m:3: make_engine("]


PUBLIC = {
    "rlvr": ["ConfigError", "DataError", "ModelError", "RlvrError", "__version__"],
    "rlvr.audit": ["AuditCase", "AuditReport", "CaseResult", "Mutations", "SUITES", "build_database",
                   "cases_from_eval", "generate_mutations", "load_cases", "run_audit", "suite_cases", "suite_tasks",
                   "verdict_words", "write_cases"],
    "rlvr.cli": ["build_parser", "main", "register_command"],
    "rlvr.envs": ["ClassTools", "Environment", "Episode", "EpisodeLimits", "Step", "TokenizationMismatch", "Tool",
                  "ToolError", "ToolsEnv", "Turn", "chat_messages", "env_names", "episode_limits", "episode_tokens",
                  "get_env", "parse_tool_calls", "register_env", "run_episode", "tool_names"],
    "rlvr.evaluate": ["EvalSettings", "Rule", "bootstrap_ci", "boundary_sets", "check_eval_record", "combine_sets",
                      "compare", "compare_sets", "eval_sets", "evaluate", "evaluate_sets", "format_boundary",
                      "format_comparison", "format_comparison_sets", "format_summary", "parse_rules", "pass_at_k",
                      "powers_of_two", "run_gate", "set_name", "write_eval"],
    "rlvr.models": ["ALIASES", "Completion", "DEFAULT_MODEL", "Decoding", "Engine", "EngineName", "EngineSpec",
                    "FinishedFn", "GenerationResult", "HFEngine", "Policy", "ProgressFn", "Prompt", "SamplingParams",
                    "VLLMEngine", "cache_dir", "cached_models", "check_device", "check_engine", "check_spec",
                    "load_policy", "make_engine", "open_engine", "resolve_model", "setting_help", "stream_seeds"],
    "rlvr.integrations": ["completion_text", "compute_score", "reward_func", "route"],
    "rlvr.monitor": ["RULES", "HealthMonitor", "HealthRule", "HealthThresholds", "HealthWarning", "read_metrics",
                     "register_health_rule", "replay"],
    "rlvr.report": ["build_report", "format_gate", "format_table", "format_yield", "html_section", "pipeline_page",
                    "write_report"],
    "rlvr.sandbox": ["BadTests", "ErrorInfo", "ProcessExit", "Report", "Sandbox", "SandboxLimits",
                     "available_isolation", "decode_value", "encode_value"],
    "rlvr.tasks": ["Task", "describe_generators", "generator_names", "load_hf_tasks", "load_tasks", "make_tasks",
                   "write_tasks"],
    "rlvr.sft": ["SFTConfig", "completion_loss", "load_sft_config", "load_sft_dataset", "train_sft"],
    "rlvr.train": ["Assumptions", "TrainConfig", "Trainer", "actual_usage", "compare", "config_help", "estimate",
                   "final_model", "group_advantages", "grpo_loss", "kept_advantages", "load_config", "make_optimizer",
                   "micro_batch_weight", "prune_rollouts", "shape_rewards", "train"],
    "rlvr.train.objectives": ["ADVANTAGES", "AdvantageEstimator", "ENTROPY_CONTROLS", "EntropyControl",
                              "GROUP_REWARDS", "GroupReward", "MISMATCH_MODES", "MismatchMode", "RATIO_LEVELS",
                              "RatioLevel", "estimate_advantages", "group_advantages", "grpo_loss",
                              "kept_advantages", "micro_batch_weight", "prune_rollouts", "shape_rewards"],
    "rlvr.train.runtime": ["Dist", "apply_lora", "autocast", "check_loggers", "final_model", "keep_freed_memory",
                           "layout_for_launch", "load_checkpoint", "make_optimizer", "open_loggers", "save_checkpoint",
                           "save_merged", "use_autocast"],
    "rlvr.verifiers": ["AnswerMode", "Backend", "FORMAT_REASONS", "Verdict", "Verifier", "allow_plugins",
                       "extract_answer", "get_verifier", "register_verifier", "shutdown_workers", "verifier_names"],
    "rlvr.workflows": ["AuditJob", "CompareJob", "DistillJob", "EvalJob", "GateJob", "Plan", "audit_verifier",
                       "curate", "format_spurious", "format_yield", "gate_candidate", "load_pipeline", "pass_rates",
                       "run_compare", "run_demo", "run_distill", "run_eval", "run_pipeline", "run_spurious", "select",
                       "sft_rows", "verdict_in_words"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_deliberate(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    for name in module.__all__:
        assert getattr(module, name) is not None  # every listed name resolves (lazy ones load on first use)


def test_every_sub_package_names_its_public_api():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    pinned = {name.rpartition(".")[2] for name in PUBLIC}
    assert packages - pinned == set()
    for name in packages:
        assert hasattr(importlib.import_module(f"rlvr.{name}"), "__all__"), name


def test_building_the_command_line_loads_no_torch():
    """`rlvr --help` stays quick (benchmarks/cli_startup.py times it): no command module imports torch,
    transformers or sympy at module level."""
    code = ("import sys; from rlvr.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

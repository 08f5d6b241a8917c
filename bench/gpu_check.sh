#!/usr/bin/env bash
# GPU check: medenv's training paths on a CUDA machine, in one run (README "GPU check").
#
#   bench/gpu_check.sh OUTDIR
#
# Needs a python3 (or $PYTHON) that imports medenv and its `train` extra, and a CUDA GPU.
# MEDENV_HOME may be cold (the KG, world and default set are built first, once). Runs, side
# by side: (1) the training and LLM-agent test files (SFT, GRPO, the prompt contract, the
# transformers backend; TRL places the models on the GPU, bf16 where supported) and (2) the
# quick `make learn` loop (synth, oracle rollouts, SFT, rollout --agent llm, GRPO, eval).
# Writes at most 8 files to OUTDIR (logs, versions, the learn summary); prints a short table.
set -u
out=${1:-out/gpu_check}
py=${PYTHON:-python3}
limit=${GPU_CHECK_LIMIT:-480}  # seconds for each of the two jobs
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export MEDENV_HOME=${MEDENV_HOME:-/tmp/medenv-gpu-check}

"$py" - <<'EOF' | tee "$out/versions.txt"
import platform
import torch, transformers, trl, datasets, pyarrow, duckdb, tantivy, gymnasium
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| transformers", transformers.__version__, "| trl", trl.__version__, "| datasets",
      datasets.__version__, "| pyarrow", pyarrow.__version__, "| duckdb", duckdb.__version__,
      "| gymnasium", gymnasium.__version__)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
      "| bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
EOF

# one cold build of the shared artefacts before the two jobs race for them
start=$SECONDS
"$py" -c "from medenv.questions import default_qa_set; print(default_qa_set(progress=False))" \
  > "$out/build.log" 2>&1
echo "cold build: $((SECONDS - start)) s (rc $?)" | tee -a "$out/build.log"

learn_dir=$(mktemp -d)
( start=$SECONDS
  timeout "$limit" "$py" -m medenv.training.learn --out "$learn_dir" --quick > "$out/learn.log" 2>&1
  echo "learn --quick: rc $? in $((SECONDS - start)) s" >> "$out/learn.log"
  cp "$learn_dir/summary.json" "$out/learn_summary.json" 2>/dev/null ) &

start=$SECONDS
timeout "$limit" "$py" -m pytest -q -p no:cacheprovider -n 6 --dist loadfile -rs \
  tests/test_tiny.py tests/test_sft.py tests/test_sft_lengths.py tests/test_grpo.py \
  tests/test_grpo_cpu.py tests/test_grpo_pool.py tests/test_prompt_contract.py \
  tests/test_entity_embed.py tests/test_train_cli.py tests/test_trl_adapter.py \
  tests/test_token_lengths.py tests/test_fingerprint.py tests/test_learning.py \
  tests/test_agents_llm.py tests/test_export.py > "$out/pytest.log" 2>&1
echo "pytest: rc $? in $((SECONDS - start)) s" >> "$out/pytest.log"
wait
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1

echo "== versions"; cat "$out/versions.txt"; cat "$out/gpu.txt"
echo "== pytest"; tail -n 25 "$out/pytest.log"
echo "== learn --quick"; tail -n 12 "$out/learn.log"
"$py" - "$out/learn_summary.json" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except OSError:
    sys.exit("no learn summary")
for k in ("untrained", "sft", "grpo"):
    v = s.get(k) or {}
    print(k, {m: v.get(m) for m in ("parseable_turns", "accuracy", "accuracy_ci",
                                    "reward_slope", "reward_slope_ci")})
EOF

#!/usr/bin/env bash
# The worker image's entrypoint: check the config file, initialise the node once, then become the agent.
#
# It runs outside Docker too (the tests run it so); every path comes from the environment:
#   PICTOR_WORKER_CONFIG        the worker config file from the API, read-only  [/config/worker-config.json]
#   PICTOR_WORKER_DATA_DIR      the node key, the benchmark result, the scene cache  [/data]
#   PICTOR_WORKER_OPERATOR_KEY  optional: the operator's key file, so that the first start registers the
#                               node on chain (without it the start prints the payload for the operator's wallet)
#   PICTOR_WORKER_LOG_LEVEL     the agent's logging level  [INFO]
# Arguments are passed on to `pictor worker run`.
#
# The first start runs `pictor worker init` (the node key in the data folder, the registration, the enrollment
# with the config's single-use token); later starts find the key and skip it. The script then execs the agent,
# so Docker's SIGTERM reaches it: it finishes the frame it renders, gives its lease back and exits 0.
# Exit code 2: bad input (no readable config file, an unwritable data folder, a bad config or key file).
set -euo pipefail

config=${PICTOR_WORKER_CONFIG:-/config/worker-config.json}
data_dir=${PICTOR_WORKER_DATA_DIR:-/data}
operator_key=${PICTOR_WORKER_OPERATOR_KEY:-}
log_level=${PICTOR_WORKER_LOG_LEVEL:-INFO}

die() { # die MESSAGE...: the words joined by spaces
  printf 'pictor-worker: error: %s\n' "$*" >&2
  exit 2
}

if [ -d "$config" ]; then
  die "$config is a folder, not the worker config file: mount the file itself (Docker makes a folder when the" \
    "host path does not exist)"
fi
if [ ! -e "$config" ]; then
  die "there is no worker config file at $config: download it from the API (GET /workers/{id}/config) and mount" \
    "it there read-only, e.g. --mount type=bind,source=/full/path/worker-config.json,target=$config,readonly"
fi
if [ ! -r "$config" ]; then
  die "the worker config file $config is not readable by this user (uid $(id -u)): make it readable on the host" \
    "(chmod a+r)"
fi
if ! mkdir -p -- "$data_dir" 2>/dev/null || [ ! -w "$data_dir" ]; then
  die "the data folder $data_dir is not writable by this user (uid $(id -u)): mount a volume there" \
    "(--mount type=volume,source=pictor-worker-data,target=$data_dir)"
fi

init=(pictor worker init --if-needed --config "$config" --data-dir "$data_dir")
if [ -n "$operator_key" ]; then
  if [ ! -f "$operator_key" ] || [ ! -r "$operator_key" ]; then
    die "PICTOR_WORKER_OPERATOR_KEY names $operator_key, which is not a readable file"
  fi
  init+=(--operator-key "$operator_key")
fi

status=0
"${init[@]}" || status=$?
case $status in
  0) ;;
  2) exit 2 ;; # init has said what is wrong with the config or the key files
  *)
    # The key is kept: the API serves the node once it is registered on chain and staked, enrolled or not.
    printf 'pictor-worker: warning: %s\n' \
      "a chain or enrollment step of the first start failed (above); the node key is kept and the agent starts." \
      "Retry the enrollment with a new config file: pictor worker enroll --config $config --data-dir $data_dir" >&2
    ;;
esac

exec pictor worker run --config "$config" --data-dir "$data_dir" --log-level "$log_level" "$@"

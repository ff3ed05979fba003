#!/usr/bin/env bash
# Install the Pictor worker on Linux as a Docker container, or replace the one this script made before.
#
#   scripts/install-worker.sh [options] [/full/path/worker-config.json]
#
# It checks Docker and the NVIDIA Container Toolkit, asks for the worker config file's full path (the file the
# API hands out: GET /workers/{id}/config) unless it is given, uses the image (pulled when it is not here yet),
# and starts the container: all GPUs, restarted with Docker unless stopped, the config file mounted read-only
# and a named volume for /data (the node key and the cache, kept across reinstalls). docker/README.md has more.
#
# Exit codes: 0 the container runs, 1 Docker, the toolkit or a docker command failed, 2 bad input.
set -euo pipefail

readonly toolkit_url=https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html
readonly docker_url=https://docs.docker.com/engine/install/
readonly label_key=network.pictor.install
readonly label_value=worker

image=${PICTOR_WORKER_IMAGE:-pictor-worker}
tag=${PICTOR_WORKER_TAG:-0.1.0}
name=${PICTOR_WORKER_CONTAINER:-pictor-worker}
volume=${PICTOR_WORKER_VOLUME:-pictor-worker-data}
stop_timeout=${PICTOR_WORKER_STOP_TIMEOUT:-300}
cpu_only=0
pull=0
config=""

usage() {
  cat <<EOF
Usage: $0 [options] [/full/path/worker-config.json]

Starts the Pictor worker in Docker with the worker config file from the API (asked for when not given).

Options (each also an environment variable):
  --image NAME        the worker image (PICTOR_WORKER_IMAGE, default pictor-worker)
  --tag TAG           its tag (PICTOR_WORKER_TAG, default 0.1.0)
  --pull              pull the image even when it is here already
  --name NAME         the container's name (PICTOR_WORKER_CONTAINER, default pictor-worker)
  --volume NAME       the volume for /data: node key and cache (PICTOR_WORKER_VOLUME, default pictor-worker-data)
  --stop-timeout S    seconds 'docker stop' waits for the frame being rendered (PICTOR_WORKER_STOP_TIMEOUT, default 300)
  --cpu-only          start without GPUs (when the NVIDIA Container Toolkit is missing)
  -h, --help          this text

Running it again replaces the container it made; the node key in the volume stays.
EOF
}

say() { printf 'install-worker: %s\n' "$*"; }

die() { # die CODE MESSAGE...
  local code=$1
  shift
  printf 'install-worker: error: %s\n' "$*" >&2
  exit "$code"
}

value() { # value OPTION ARGUMENT-COUNT: the option's argument must be there
  [ "$2" -ge 2 ] || die 2 "$1 needs a value (see --help)"
}

while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --image) value "$1" $#; image=$2; shift 2 ;;
    --tag) value "$1" $#; tag=$2; shift 2 ;;
    --name) value "$1" $#; name=$2; shift 2 ;;
    --volume) value "$1" $#; volume=$2; shift 2 ;;
    --stop-timeout) value "$1" $#; stop_timeout=$2; shift 2 ;;
    --pull) pull=1; shift ;;
    --cpu-only) cpu_only=1; shift ;;
    --) shift; break ;;
    -*) die 2 "unknown option $1 (see --help)" ;;
    *) [ -z "$config" ] || die 2 "give one config file, not several (see --help)"; config=$1; shift ;;
  esac
done
if [ $# -gt 0 ]; then
  if [ -n "$config" ] || [ $# -gt 1 ]; then die 2 "give one config file, not several (see --help)"; fi
  config=$1
fi
case $stop_timeout in
  '' | *[!0-9]*) die 2 "--stop-timeout takes whole seconds, not '$stop_timeout'" ;;
esac

# Docker, and a daemon that answers.
command -v docker >/dev/null 2>&1 \
  || die 1 "Docker is not installed: install Docker Engine ($docker_url), then run this again"
if ! docker_info=$(docker info 2>&1); then
  die 1 "Docker is installed but its daemon does not answer: is it running, and may this user use it (the" \
    "docker group, or sudo)? docker info said: $docker_info"
fi

# The NVIDIA Container Toolkit, which lets containers use the GPUs.
gpus=0
if [ "$cpu_only" = 0 ]; then
  if command -v nvidia-ctk >/dev/null 2>&1 || grep -Eqi 'runtimes:.*nvidia' <<<"$docker_info"; then
    gpus=1
  else
    say "The NVIDIA Container Toolkit is missing (no nvidia-ctk, and docker info shows no nvidia runtime):"
    say "containers cannot use the GPUs. Install it: $toolkit_url"
    say "then restart Docker and run this again, or go on CPU-only (renders on the CPU, far slower)."
    answer=""
    read -r -p "Continue CPU-only? [y/N] " answer || true
    case $answer in
      [yY] | [yY][eE][sS]) say "continuing CPU-only" ;;
      *) die 1 "stopped: install the NVIDIA Container Toolkit ($toolkit_url), or run again with --cpu-only" ;;
    esac
  fi
fi

# The config file: a full path to a readable worker config.
if [ -z "$config" ]; then
  read -r -p "Full path of the worker config file (worker-config.json from the API): " config || true
fi
config=${config#"${config%%[![:space:]]*}"} # trim blanks, then the quotes a terminal adds to a dropped file
config=${config%"${config##*[![:space:]]}"}
config=${config#[\"\']}
config=${config%[\"\']}
case $config in
  '') die 2 "no config file given: pass its full path, e.g. $0 /home/me/worker-config.json" ;;
  /*) ;;
  *) die 2 "'$config' is not a full path: give the config file's full path, starting with / (e.g. $PWD/$config)" ;;
esac
[ -e "$config" ] || die 2 "there is no file at $config: download the worker's config file from the API first"
[ -f "$config" ] || die 2 "$config is not a file: give the path of the worker config file itself"
[ -r "$config" ] || die 2 "cannot read $config: check its permissions"
case $config in
  *,*) die 2 "the path $config has a comma, which docker --mount cannot take: move or rename the file" ;;
esac
grep -q '"worker_id"' "$config" \
  || die 2 "$config is not a worker config file (it has no worker_id): download the worker's config file from the API"
if [ -z "$(find -L "$config" -maxdepth 0 -perm -004)" ]; then
  die 2 "the container's user (uid 10001) cannot read $config: make it readable with chmod a+r '$config'" \
    "(its enrollment token works once)"
fi

# The image: the one here, else pulled.
ref=$image:$tag
if [ "$pull" = 1 ] || ! docker image inspect "$ref" >/dev/null 2>&1; then
  say "pulling $ref"
  docker pull "$ref" || die 1 "cannot pull $ref: check --image and --tag, or build it from the repository:" \
    "docker build -f docker/worker/Dockerfile -t $ref ."
fi

# A container of this name from an earlier run is replaced (with its anonymous /config volume; the named /data
# volume stays); anyone else's is left alone.
if made_by=$(docker container inspect --format "{{index .Config.Labels \"$label_key\"}}" "$name" 2>/dev/null); then
  [ "$made_by" = "$label_value" ] \
    || die 1 "a container named $name exists that this script did not make: remove it, or pick another --name"
  say "replacing the container $name"
  docker rm --force --volumes "$name" >/dev/null || die 1 "cannot remove the old container $name"
fi

run=(run --detach --name "$name" --label "$label_key=$label_value"
  --restart unless-stopped --init --stop-timeout "$stop_timeout"
  --mount "type=bind,source=$config,target=/config/worker-config.json,readonly"
  --mount "type=volume,source=$volume,target=/data")
if [ "$gpus" = 1 ]; then
  run+=(--gpus all)
fi
docker "${run[@]}" "$ref" >/dev/null || die 1 "docker run failed (above)"

if [ "$gpus" = 1 ]; then where="all GPUs"; else where="the CPU only"; fi
say "the worker runs in the container $name ($where); Docker restarts it unless you stop it"
say "  its log:     docker logs -f $name   (the first start enrolls the node and prints the"
say "               registry::register_node payload for the operator's wallet)"
say "  its health:  docker inspect --format '{{.State.Health.Status}}' $name"
say "  stop it:     docker stop $name   (it finishes the frame it renders first: up to ${stop_timeout}s)"

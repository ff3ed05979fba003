"""A stand-in for the ``docker`` CLI (run as a script): records each call's arguments and answers like Docker.

Its world is a folder (``FAKE_DOCKER_STATE``): ``world.json`` says whether the daemon runs, which runtimes it
has, which images are here and which the registry has; ``containers/NAME.json`` are the containers it made
(labels, run arguments); ``calls.jsonl`` gets one JSON list per call. A command it does not know fails with
exit code 99, so a script calling something unexpected fails its test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_DOCKER_STATE"])
WORLD = STATE / "world.json"
CONTAINERS = STATE / "containers"


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def option_values(args: list[str], name: str) -> list[str]:
    """The values of a repeated ``--name VALUE`` option."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]


def info(world: dict) -> None:
    if not world.get("daemon", True):
        fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    runtimes = " ".join(sorted(["io.containerd.runc.v2", "runc", *world.get("runtimes", [])]))
    print(f"Client: Docker Engine - Community\n Version:    28.2.2\n\nServer:\n Containers: 0\n Runtimes: {runtimes}\n"
          " Default Runtime: runc\n Kernel Version: 6.8.0-60-generic\n Operating System: Ubuntu 24.04.2 LTS")  # fmt: skip


def image(world: dict, args: list[str]) -> None:
    if args[:1] != ["inspect"] or len(args) != 2:
        fail(f"fake docker: unexpected image command {args}", 99)
    if args[1] not in world.get("images", []):
        fail(f"Error response from daemon: No such image: {args[1]}")
    print(json.dumps([{"RepoTags": [args[1]]}]))


def pull(world: dict, args: list[str]) -> None:
    ref = args[-1]
    if ref not in world.get("registry", []):
        fail(f"Error response from daemon: pull access denied for {ref.split(':')[0]}, repository does not exist or "
             "may require 'docker login': denied: requested access to the resource is denied")  # fmt: skip
    world.setdefault("images", []).append(ref)
    WORLD.write_text(json.dumps(world))
    print(f"{ref.split(':')[-1]}: Pulling from {ref.split(':')[0]}\nStatus: Downloaded newer image for {ref}")


def container(args: list[str]) -> None:
    if args[:1] != ["inspect"]:
        fail(f"fake docker: unexpected container command {args}", 99)
    name = args[-1]
    path = CONTAINERS / f"{name}.json"
    if not path.exists():
        fail(f"Error: No such container: {name}")
    labels = json.loads(path.read_text())["labels"]
    template = option_values(args, "--format")
    if template == ["{{.Config.Labels}}"]:
        print("map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]")
    elif template and template[0].startswith("{{index .Config.Labels "):
        key = template[0].removeprefix("{{index .Config.Labels ").removesuffix("}}").strip('"')
        print(labels.get(key, "<no value>"))
    else:
        fail(f"fake docker: unexpected inspect format {template}", 99)


def rm(args: list[str]) -> None:
    name = args[-1]
    path = CONTAINERS / f"{name}.json"
    if not path.exists():
        fail(f"Error response from daemon: No such container: {name}")
    path.unlink()
    print(name)


def run(world: dict, args: list[str]) -> None:
    name = option_values(args, "--name")
    ref = args[-1]
    if len(name) != 1:
        fail("fake docker: run without one --name", 99)
    if (CONTAINERS / f"{name[0]}.json").exists():
        fail(f'docker: Error response from daemon: Conflict. The container name "/{name[0]}" is already in use.', 125)
    if ref not in world.get("images", []):
        fail(f"fake docker: run of an image that is not here: {ref}", 99)
    for mount in option_values(args, "--mount"):
        fields = dict(part.split("=", 1) if "=" in part else (part, "") for part in mount.split(","))
        if fields.get("type") == "bind" and not Path(fields["source"]).exists():
            fail(f'docker: Error response from daemon: invalid mount config for type "bind": bind source path does '
                 f"not exist: {fields['source']}", 125)  # fmt: skip
    labels = dict(label.split("=", 1) for label in option_values(args, "--label"))
    (CONTAINERS / f"{name[0]}.json").write_text(json.dumps({"labels": labels, "args": args}))
    print("4f0c" * 16)


def main() -> None:
    args = sys.argv[1:]
    with open(STATE / "calls.jsonl", "a") as calls:
        calls.write(json.dumps(args) + "\n")
    world = json.loads(WORLD.read_text())
    CONTAINERS.mkdir(exist_ok=True)
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command != "info" and not world.get("daemon", True):
        fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    if command == "info" and not rest:
        info(world)
    elif command == "image":
        image(world, rest)
    elif command == "pull":
        pull(world, rest)
    elif command == "container":
        container(rest)
    elif command == "rm" and rest[:2] == ["--force", "--volumes"]:
        rm(rest)
    elif command == "run":
        run(world, rest)
    else:
        fail(f"fake docker: unexpected command {args}", 99)


if __name__ == "__main__":
    main()

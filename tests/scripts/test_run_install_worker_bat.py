"""``scripts/run-install-worker.bat`` read statically (no Windows shell runs here): cmd's line ends, its labels,
the checks it makes and the docker commands and flags it passes, and that it matches the Linux script."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.support import REPO_ROOT

BAT = REPO_ROOT / "scripts" / "run-install-worker.bat"
SH = REPO_ROOT / "scripts" / "install-worker.sh"


@pytest.fixture(scope="module")
def raw() -> bytes:
    return BAT.read_bytes()


@pytest.fixture(scope="module")
def lines(raw: bytes) -> list[str]:
    """The commands: rem lines and blank lines left out, indentation stripped."""
    text = raw.decode("ascii").split("\r\n")
    return [line.strip() for line in text if line.strip() and not line.strip().lower().startswith("rem")]


def docker_run(lines: list[str]) -> list[str]:
    """The words of the one ``docker run`` line (cmd quoting read as a POSIX shell would: no quotes nested)."""
    runs = [line for line in lines if line.startswith("docker run ")]
    assert len(runs) == 1, runs
    return shlex.split(runs[0].removesuffix(">nul").strip())


def defaults(text: str, pattern: str) -> dict[str, str]:
    return dict(re.findall(pattern, text, re.M))


def test_cmd_can_read_it(raw: bytes) -> None:
    # cmd misreads labels and goto in a batch file without CR LF line ends; the .gitattributes keeps them.
    assert raw.count(b"\n") == raw.count(b"\r\n") > 50
    assert raw.decode("ascii")  # no characters that depend on the console's code page
    assert "*.bat text eol=crlf" in (REPO_ROOT / "scripts" / ".gitattributes").read_text()


def test_every_goto_has_its_label_and_every_exit_goes_through_finish(lines: list[str]) -> None:
    labels = [line[1:].lower() for line in lines if line.startswith(":")]
    assert len(labels) == len(set(labels)), labels
    targets = {m.lower() for line in lines for m in re.findall(r"\bgoto\s+:?([\w]+)", line, re.I)}
    assert targets and targets <= {*labels, "eof"}, targets - set(labels)
    exits = [line for line in lines if re.search(r"\bexit\b", line, re.I)]
    assert exits == ["endlocal & exit /b %RC%"], exits  # one way out, after the pause of a double-clicked window
    assert lines[1].lower() == "setlocal enableextensions enabledelayedexpansion"


def test_it_checks_docker_and_its_engine_first(lines: list[str]) -> None:
    where, info = lines.index("where docker >nul 2>nul"), lines.index("docker info >nul 2>nul")
    assert (
        lines[where + 1] == "if errorlevel 1 goto no_docker" and lines[info + 1] == "if errorlevel 1 goto docker_down"
    )
    assert where < info < next(i for i, line in enumerate(lines) if line.startswith("docker run "))
    text = "\n".join(lines)
    assert "https://docs.docker.com/desktop/setup/install/windows-install/" in text


def test_it_asks_for_a_full_config_path_and_checks_the_file(lines: list[str]) -> None:
    text = "\n".join(lines)
    ask = (
        'if not defined CONFIG set /p "CONFIG=Full path of the worker config file (worker-config.json from the API): "'
    )
    assert ask in lines
    checks = [
        'set "CONFIG=!CONFIG:"=!"',  # the quotes Explorer's "Copy as path" adds
        'if not "!CONFIG:~1,2!"==":\\" goto not_full_path',  # C:\...
        'if not exist "!CONFIG!" goto no_file',
        'if exist "!CONFIG!\\*" goto not_a_file',
        'if not "!CONFIG:,=!"=="!CONFIG!" goto comma',
        'findstr /c:"worker_id" "!CONFIG!" >nul 2>nul',
    ]
    positions = [lines.index(check) for check in checks]
    assert positions == sorted(positions) and positions[0] > lines.index(ask)
    for label in ("not_full_path", "no_file", "not_a_file", "comma", "not_worker_config", "no_config"):
        block = text.split(f"\n:{label}\n", 1)[1].split("\n", 2)
        assert block[0].startswith("echo install-worker: error: ") and block[0].endswith("1>&2")
        assert block[1] == 'set "RC=2"', (label, block)


def test_gpus_only_when_docker_desktop_passes_them_through_wsl2(lines: list[str]) -> None:
    start = lines.index('set "GPU_ARGS="')
    gpus = lines.index('set "GPU_ARGS=--gpus all"')
    between = lines[start:gpus]
    assert "where nvidia-smi >nul 2>nul" in between  # the NVIDIA driver for Windows
    assert any('docker info --format "{{.KernelVersion}}"' in line for line in between)
    assert 'if "%WSL2%"=="0" goto no_gpu' in between and 'if "%CPU_ONLY%"=="1" goto gpu_done' in between
    no_gpu = lines.index(":no_gpu")
    assert 'set /p "ANSWER=Continue CPU-only? [y/N] "' in lines[no_gpu:]
    assert "https://docs.docker.com/desktop/features/gpu/" in "\n".join(lines[no_gpu : no_gpu + 4])


def test_the_container_it_starts(lines: list[str]) -> None:
    words = docker_run(lines)
    assert words[:2] == ["docker", "run"] and words[-1] == "%REF%"
    flags = " ".join(words[2:-1])
    for part in (
        "--detach",
        "--name %NAME%",
        "--label %LABEL_KEY%=%LABEL_VALUE%",
        "--restart unless-stopped",
        "--init",
        "--stop-timeout %STOP_TIMEOUT%",
        "%GPU_ARGS%",
        "--mount type=bind,source=!CONFIG!,target=/config/worker-config.json,readonly",
        "--mount type=volume,source=%VOLUME%,target=/data",
    ):
        assert part in flags, part
    assert 'set "REF=%IMAGE%:%TAG%"' in lines


def test_it_uses_the_image_here_or_pulls_it_and_replaces_only_its_own_container(lines: list[str]) -> None:
    inspect = lines.index('docker image inspect "%REF%" >nul 2>nul')
    assert lines[inspect + 1] == "if not errorlevel 1 goto image_ready"
    assert lines[inspect + 3 : inspect + 5] == ['docker pull "%REF%"', "if errorlevel 1 goto pull_failed"]
    mine = ('docker container inspect --format "{{.Config.Labels}}" "%NAME%" | '
            'findstr /c:"%LABEL_KEY%:%LABEL_VALUE%" >nul')  # fmt: skip
    remove = lines.index('docker rm --force --volumes "%NAME%" >nul')
    assert lines.index(mine) < remove < lines.index(":start")
    assert lines[lines.index(mine) + 1] == "if errorlevel 1 goto not_ours"


def test_it_matches_the_linux_script() -> None:
    """The same defaults (image, tag, names, stop timeout) and the same label, so both find what the other made."""
    bat = BAT.read_text()
    sh = SH.read_text()
    bat_values = defaults(bat, r'^set "(\w+)=([^"%!]*)"\r?$')
    sh_values = defaults(sh, r"^(\w+)=\$\{PICTOR_WORKER_\w+:-([^}]*)\}$")
    assert {
        "IMAGE": bat_values["IMAGE"], "TAG": bat_values["TAG"], "NAME": bat_values["NAME"],
        "VOLUME": bat_values["VOLUME"], "STOP_TIMEOUT": bat_values["STOP_TIMEOUT"],
    } == {
        "IMAGE": sh_values["image"], "TAG": sh_values["tag"], "NAME": sh_values["name"],
        "VOLUME": sh_values["volume"], "STOP_TIMEOUT": sh_values["stop_timeout"],
    }  # fmt: skip
    for variable in ("IMAGE", "TAG", "CONTAINER", "VOLUME", "STOP_TIMEOUT"):
        assert f"PICTOR_WORKER_{variable}" in bat and f"PICTOR_WORKER_{variable}" in sh
    sh_label = defaults(sh, r"^readonly (label_key|label_value)=(\S+)$")
    assert (bat_values["LABEL_KEY"], bat_values["LABEL_VALUE"]) == (sh_label["label_key"], sh_label["label_value"])

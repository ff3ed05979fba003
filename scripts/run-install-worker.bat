@echo off
rem Install the Pictor worker on Windows with Docker Desktop (WSL 2 backend), or replace the one this made before.
rem
rem   scripts\run-install-worker.bat [C:\full\path\worker-config.json] [--cpu-only]
rem
rem The same steps as scripts/install-worker.sh: check Docker, ask for the worker config file's full path (the
rem file the API hands out) unless it is given, use the image (pulled when it is not here yet) and start the
rem container: all GPUs when Docker Desktop passes them through WSL 2, restarted with Docker unless stopped, the
rem config file mounted read-only and a named volume for /data (the node key and the cache).
rem Settings: PICTOR_WORKER_IMAGE (pictor-worker), PICTOR_WORKER_TAG (0.1.0), PICTOR_WORKER_CONTAINER
rem (pictor-worker), PICTOR_WORKER_VOLUME (pictor-worker-data), PICTOR_WORKER_STOP_TIMEOUT (300 seconds).
rem Exit codes: 0 the container runs, 1 Docker or a docker command failed, 2 bad input.
setlocal EnableExtensions EnableDelayedExpansion

set "IMAGE=pictor-worker"
if defined PICTOR_WORKER_IMAGE set "IMAGE=%PICTOR_WORKER_IMAGE%"
set "TAG=0.1.0"
if defined PICTOR_WORKER_TAG set "TAG=%PICTOR_WORKER_TAG%"
set "NAME=pictor-worker"
if defined PICTOR_WORKER_CONTAINER set "NAME=%PICTOR_WORKER_CONTAINER%"
set "VOLUME=pictor-worker-data"
if defined PICTOR_WORKER_VOLUME set "VOLUME=%PICTOR_WORKER_VOLUME%"
set "STOP_TIMEOUT=300"
if defined PICTOR_WORKER_STOP_TIMEOUT set "STOP_TIMEOUT=%PICTOR_WORKER_STOP_TIMEOUT%"
set "LABEL_KEY=network.pictor.install"
set "LABEL_VALUE=worker"
set "CONFIG="
set "CPU_ONLY=0"
set "RC=0"

:args
if "%~1"=="" goto args_done
if /i "%~1"=="--cpu-only" (
  set "CPU_ONLY=1"
) else (
  set "CONFIG=%~1"
)
shift
goto args
:args_done

rem Docker Desktop, and its engine answering.
where docker >nul 2>nul
if errorlevel 1 goto no_docker
docker info >nul 2>nul
if errorlevel 1 goto docker_down

rem GPUs: Docker Desktop passes NVIDIA GPUs to containers through WSL 2 when the NVIDIA driver for Windows is
rem installed (then nvidia-smi is on the PATH and the engine runs on the WSL 2 kernel).
set "GPU_ARGS="
if "%CPU_ONLY%"=="1" goto gpu_done
set "WSL2=0"
set "KERNEL="
for /f "delims=" %%K in ('docker info --format "{{.KernelVersion}}" 2^>nul') do set "KERNEL=%%K"
if defined KERNEL if not "!KERNEL:WSL2=!"=="!KERNEL!" set "WSL2=1"
where nvidia-smi >nul 2>nul
if errorlevel 1 goto no_gpu
if "%WSL2%"=="0" goto no_gpu
set "GPU_ARGS=--gpus all"
goto gpu_done
:no_gpu
echo install-worker: Docker Desktop cannot give containers the GPUs here: it needs the WSL 2 backend and the
echo install-worker: NVIDIA driver for Windows (https://docs.docker.com/desktop/features/gpu/).
echo install-worker: Install them and run this again, or go on CPU-only (renders on the CPU, far slower).
set "ANSWER="
set /p "ANSWER=Continue CPU-only? [y/N] "
if /i "!ANSWER!"=="y" goto gpu_done
if /i "!ANSWER!"=="yes" goto gpu_done
echo install-worker: error: stopped: set up GPU support, or run again with --cpu-only 1>&2
set "RC=1"
goto finish
:gpu_done

rem The config file: a full path (C:\...) to a readable worker config.
if not defined CONFIG set /p "CONFIG=Full path of the worker config file (worker-config.json from the API): "
if not defined CONFIG goto no_config
set "CONFIG=!CONFIG:"=!"
if not "!CONFIG:~1,2!"==":\" goto not_full_path
if not exist "!CONFIG!" goto no_file
if exist "!CONFIG!\*" goto not_a_file
if not "!CONFIG:,=!"=="!CONFIG!" goto comma
findstr /c:"worker_id" "!CONFIG!" >nul 2>nul
if errorlevel 1 goto not_worker_config

rem The image: the one here, else pulled.
set "REF=%IMAGE%:%TAG%"
docker image inspect "%REF%" >nul 2>nul
if not errorlevel 1 goto image_ready
echo install-worker: pulling %REF%
docker pull "%REF%"
if errorlevel 1 goto pull_failed
:image_ready

rem A container of this name from an earlier run is replaced (with its anonymous /config volume; the named
rem /data volume stays); anyone else's is left alone.
docker container inspect "%NAME%" >nul 2>nul
if errorlevel 1 goto start
docker container inspect --format "{{.Config.Labels}}" "%NAME%" | findstr /c:"%LABEL_KEY%:%LABEL_VALUE%" >nul
if errorlevel 1 goto not_ours
echo install-worker: replacing the container %NAME%
docker rm --force --volumes "%NAME%" >nul
if errorlevel 1 goto docker_failed

:start
docker run --detach --name "%NAME%" --label "%LABEL_KEY%=%LABEL_VALUE%" --restart unless-stopped --init --stop-timeout %STOP_TIMEOUT% %GPU_ARGS% --mount "type=bind,source=!CONFIG!,target=/config/worker-config.json,readonly" --mount "type=volume,source=%VOLUME%,target=/data" "%REF%" >nul
if errorlevel 1 goto docker_failed
set "WHERE=the CPU only"
if defined GPU_ARGS set "WHERE=all GPUs"
echo install-worker: the worker runs in the container %NAME% (%WHERE%); Docker restarts it unless you stop it
echo install-worker:   its log:    docker logs -f %NAME%
echo install-worker:   stop it:    docker stop %NAME%   (it finishes the frame it renders first)
goto finish

:no_docker
echo install-worker: error: Docker is not installed: install Docker Desktop with the WSL 2 backend (https://docs.docker.com/desktop/setup/install/windows-install/), then run this again 1>&2
set "RC=1"
goto finish
:docker_down
echo install-worker: error: Docker Desktop is not running: start it, wait for "Engine running", then run this again 1>&2
set "RC=1"
goto finish
:no_config
echo install-worker: error: no config file given: pass its full path, e.g. C:\Users\me\worker-config.json 1>&2
set "RC=2"
goto finish
:not_full_path
echo install-worker: error: "!CONFIG!" is not a full path: give the config file's full path, starting with a drive (C:\...) 1>&2
set "RC=2"
goto finish
:no_file
echo install-worker: error: there is no file at !CONFIG!: download the worker's config file from the API first 1>&2
set "RC=2"
goto finish
:not_a_file
echo install-worker: error: !CONFIG! is a folder: give the path of the worker config file itself 1>&2
set "RC=2"
goto finish
:comma
echo install-worker: error: the path !CONFIG! has a comma, which docker --mount cannot take: move or rename the file 1>&2
set "RC=2"
goto finish
:not_worker_config
echo install-worker: error: !CONFIG! is not a worker config file (it has no worker_id): download it from the API 1>&2
set "RC=2"
goto finish
:pull_failed
echo install-worker: error: cannot pull %REF%: check PICTOR_WORKER_IMAGE and PICTOR_WORKER_TAG, or build the image: docker build -f docker/worker/Dockerfile -t %REF% . 1>&2
set "RC=1"
goto finish
:not_ours
echo install-worker: error: a container named %NAME% exists that this script did not make: remove it, or set PICTOR_WORKER_CONTAINER 1>&2
set "RC=1"
goto finish
:docker_failed
echo install-worker: error: the docker command failed (above) 1>&2
set "RC=1"
goto finish

:finish
rem Started by a double click, the window would close at once: keep it open to be read.
set "CMDLINE=!cmdcmdline:"=!"
if not "!CMDLINE:%~nx0=!"=="!CMDLINE!" pause
endlocal & exit /b %RC%

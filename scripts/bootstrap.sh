#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages, the virtual environment and the
# pinned dependencies. Silent when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  python3 -m venv .venv
fi

# Re-install only when the pins or the project metadata change.
stamp=.venv/.cameogate-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing pinned dependencies into .venv (torch is large: a few minutes the first time)"
  pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
  "${pip[@]}" install -r requirements.lock 2> >(grep -v '^WARNING: Location' >&2)
  "${pip[@]}" install --no-deps resemblyzer==0.1.4 -e . 2> >(grep -v '^WARNING: Location' >&2)
  echo "$want" >"$stamp"
fi

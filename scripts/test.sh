#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format check and every test.
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or MUTUALAID_TEST_POSTGRES.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# nginx: the gateway tests run the real one; docker-compose: validates docker-compose.yml
# (Debian's package renders and checks the file without a container engine).
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'

ruff check .
ruff format --check .
python3 -m pytest "$@"

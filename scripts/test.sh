#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format check and every test.
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or MUTUALAID_TEST_POSTGRES.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null 2>&1; then
  echo "installing nginx (the gateway tests run the real one)" >&2
  apt-get update -qq && apt-get install -y -qq nginx >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'

ruff check .
ruff format --check .
python3 -m pytest "$@"

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

# Nothing the suite writes stays in the checkout: bytecode goes to the user's cache (so do
# pytest's, ruff's and Hypothesis' caches, by their settings); checked at the end.
export PYTHONPYCACHEPREFIX="${XDG_CACHE_HOME:-$HOME/.cache}/mutualaid/pycache"
in_checkout() { git status --porcelain --ignored --untracked-files=all 2>/dev/null | sort; }
before="$(in_checkout)"

ruff check .
ruff format --check .
# Two workers (pytest-xdist): the machine's two cores; each test makes its own databases.
# Given arguments (one file, -k ...), one process, as asked.
if (($# == 0)); then
  python3 -m pytest -n 2
else
  python3 -m pytest "$@"
fi

# The whole suite ran on the services' clock frozen at this instant. The tests that depend on
# the day run again with it pinned where days are awkward: 23:59 and 00:01 in Shanghai (00:01
# is still yesterday in UTC), New Year's Eve and Day, 29 February of a leap year. 00:01 on New
# Year's Day (the date UTC gets wrong) on both databases; the others shared out between them,
# so that each database sees a year's end and a leap day. Only when the whole suite was asked
# for (no arguments).
if (($# == 0)); then
  for pinned in 2027-01-01T00:01:00+08:00=both 2026-12-31T23:59:00+08:00=postgres \
    2028-02-29T00:01:00+08:00=sqlite 2028-02-29T23:59:00+08:00=postgres; do
    instant="${pinned%=*}" backend="${pinned#*=}"
    echo "the calendar tests with the clock pinned at $instant ($backend)" >&2
    only=()
    [[ "$backend" == both ]] || only=(--backend "$backend")
    MUTUALAID_CLOCK_PINNED_AT="$instant" python3 -m pytest -q -n 2 -m calendar "${only[@]}"
  done
fi

left="$(comm -13 <(echo "$before") <(in_checkout))"
if [[ -n "$left" ]]; then
  echo "the test suite left files in the checkout:" >&2
  echo "$left" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs the datasource suites and the install/uninstall round trip against
# real Gitea, Portainer and NPM servers (datasources/suite: build tag
# realservers). Each test skips, naming the variables it lacks, when they
# are unset, so any subset of servers can be tested (e.g. Gitea and
# Portainer without NPM); with no server configured at all there is
# nothing to run, so the script says which variables are missing and exits 0.
#
# Answer fields the vendors' specs lack (a server newer or older than the
# spec) are listed at the end, not failed.
#
#   scripts/test-real.sh [go test flags, e.g. -v -run TestContract]
#   scripts/test-real.sh --self-check
#
# --self-check runs the real-server suites against in-process fakes posing
# as real servers, with only the Gitea and Portainer variables set (once
# without and once with APPMANAGE_TEST_IMAGE and the Portainer user), and
# checks that nothing fails and that every test needing an unset variable
# skips naming it (go run ./datasources/suite/selfcheck). It tests this
# script's configuration logic, not the servers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ "${1:-}" == "--self-check" ]]; then
  shift
  go run ./datasources/suite/selfcheck "$@"
  go run ./datasources/suite/selfcheck -image busybox:1.36 -jwt "$@"
  exit 0
fi

# What each group of tests needs; a group with an unset variable skips.
declare -A needs=(
  [gitea]="APPMANAGE_TEST_GITEA_URL APPMANAGE_TEST_GITEA_TOKEN"
  [portainer]="APPMANAGE_TEST_PORTAINER_URL APPMANAGE_TEST_PORTAINER_API_KEY"
  [portainer-deploy]="APPMANAGE_TEST_IMAGE"
  [portainer-jwt]="APPMANAGE_TEST_PORTAINER_USER APPMANAGE_TEST_PORTAINER_PASSWORD"
  [npm]="APPMANAGE_TEST_NPM_URL APPMANAGE_TEST_NPM_EMAIL APPMANAGE_TEST_NPM_PASSWORD"
  [install-round-trip]="APPMANAGE_TEST_LIBRARY_DIR APPMANAGE_TEST_APP (and the gitea, portainer and npm ones)"
)
optional="APPMANAGE_TEST_GITEA_OWNER APPMANAGE_TEST_PORTAINER_ENDPOINT APPMANAGE_TEST_NPM_DOMAIN APPMANAGE_TEST_CLONE_BASE_URL APPMANAGE_TEST_GIT_USER"

echo "test-real: what runs with the variables set here:"
for group in gitea portainer portainer-deploy portainer-jwt npm install-round-trip; do
  missing=()
  for v in ${needs[$group]}; do
    [[ "$v" == APPMANAGE_* ]] || continue
    [[ -n "${!v:-}" ]] || missing+=("$v")
  done
  if ((${#missing[@]} == 0)); then
    printf '  %-19s runs\n' "$group"
  else
    printf '  %-19s skipped: set %s\n' "$group" "${missing[*]}"
  fi
done
echo "  (optional: $optional)"
if [[ -n "${APPMANAGE_TEST_PORTAINER_URL:-}" && -z "${APPMANAGE_TEST_IMAGE:-}" ]]; then
  echo "  portainer-deploy needs an image with sh and sleep the endpoint can pull or has, e.g. APPMANAGE_TEST_IMAGE=busybox:1.36"
fi

if [[ -z "${APPMANAGE_TEST_GITEA_URL:-}${APPMANAGE_TEST_PORTAINER_URL:-}${APPMANAGE_TEST_NPM_URL:-}" ]]; then
  echo "test-real: no real server is configured; nothing to run."
  exit 0
fi

report=$(mktemp)
# TestRoundTrip appends the install's and uninstall's timings (each step's
# too) here; they are printed whatever the outcome.
timings=$(mktemp)
trap 'rm -f "$report" "$timings"' EXIT
rc=0
APPMANAGE_TEST_REPORT="$report" APPMANAGE_TEST_TIMINGS="$timings" \
  go test -count=1 -timeout 45m -tags realservers "$@" ./datasources/... ./apps/... || rc=$?
if [[ -s "$report" ]]; then
  echo "test-real: answer fields the specs lack (reported, not failed):"
  cat "$report"
fi
if [[ -s "$timings" ]]; then
  echo "test-real: timings"
  sed 's/^/  /' "$timings"
fi
exit "$rc"

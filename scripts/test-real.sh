#!/usr/bin/env bash
# Runs the datasource suites and the install/uninstall round trip against
# real Gitea, Portainer and NPM servers (datasources/suite: build tag
# realservers). Each suite skips, naming what it lacks, when its variables
# are unset; with no server configured at all there is nothing to run, so
# the script says which variables are missing and exits 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

required=(
  APPMANAGE_TEST_GITEA_URL APPMANAGE_TEST_GITEA_TOKEN
  APPMANAGE_TEST_PORTAINER_URL APPMANAGE_TEST_PORTAINER_API_KEY
  APPMANAGE_TEST_NPM_URL APPMANAGE_TEST_NPM_EMAIL APPMANAGE_TEST_NPM_PASSWORD
  APPMANAGE_TEST_LIBRARY_DIR APPMANAGE_TEST_APP
)
optional=(
  APPMANAGE_TEST_GITEA_OWNER APPMANAGE_TEST_PORTAINER_ENDPOINT APPMANAGE_TEST_NPM_DOMAIN
  APPMANAGE_TEST_CLONE_BASE_URL APPMANAGE_TEST_GIT_USER
)

missing=()
for v in "${required[@]}"; do
  [[ -n "${!v:-}" ]] || missing+=("$v")
done

if ((${#missing[@]} > 0)); then
  echo "test-real: these variables are unset:"
  printf '  %s\n' "${missing[@]}"
  echo "  (optional: ${optional[*]})"
fi

if [[ -z "${APPMANAGE_TEST_GITEA_URL:-}${APPMANAGE_TEST_PORTAINER_URL:-}${APPMANAGE_TEST_NPM_URL:-}" ]]; then
  echo "test-real: no real server is configured; nothing to run."
  exit 0
fi
if ((${#missing[@]} > 0)); then
  echo "test-real: running anyway; the suites that need them are skipped."
fi

# TestRoundTrip appends the install's and uninstall's timings (each step's
# too) here; they are printed whatever the outcome.
timings=$(mktemp)
trap 'rm -f "$timings"' EXIT
status=0
APPMANAGE_TEST_TIMINGS="$timings" go test -count=1 -timeout 45m -tags realservers "$@" ./datasources/... ./apps/... || status=$?
if [[ -s "$timings" ]]; then
  echo "test-real: timings"
  sed 's/^/  /' "$timings"
fi
exit "$status"

#!/usr/bin/env bash
# Installs the pinned npm GraphQL clients (package-lock.json) that the JS
# client tests run (jsclients_test.go). Skipped when node_modules matches the
# lockfile already; without npm it says so and the tests skip (or fail when
# CI is set). Called by `make js-clients`, a prerequisite of `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.lockfile.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "js-clients: npm not found: the JS client tests will skip (install Node.js 20+ and npm)" >&2
	exit 0
fi
echo "js-clients: npm ci in httpapi/jsclients" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"

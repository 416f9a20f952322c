#!/usr/bin/env bash
# Builds the web console into dist/app, which console.go embeds: npm ci
# (skipped when node_modules matches the lockfile), GraphQL Code Generator
# over graph/schema/*.graphqls, a type check, then vite build. A schema
# change that breaks a query of the console fails here. Called by
# `make web-console`, a prerequisite of `make build` and `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v npm >/dev/null 2>&1; then
	echo "web-console: npm not found: install Node.js 20+ and npm to build the console" >&2
	exit 1
fi
stamp=node_modules/.lockfile.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	echo "web-console: npm ci in web/console" >&2
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	echo "$want" >"$stamp"
fi
npx --no-install graphql-codegen --config codegen.ts --silent
npx --no-install tsc --noEmit -p .
npx --no-install vite build --logLevel warn
# The gzip size of what the binary embeds (the goal: at most 1 MiB).
total=0
while IFS= read -r -d '' f; do
	total=$((total + $(gzip -9 -c "$f" | wc -c)))
done < <(find dist/app -type f -print0)
echo "web-console: built dist/app, $(du -sk dist/app | cut -f1) KiB, ${total} bytes gzip" >&2

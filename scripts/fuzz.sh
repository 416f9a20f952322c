#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx in a _test.go file) in turn
# for FUZZTIME each: go test allows one fuzz target per invocation. New
# inputs that fail are written to <package>/testdata/fuzz/<Target>/ (commit
# them with the fix); the seed corpora also run in `make test`.
#   FUZZTIME=10m scripts/fuzz.sh            every target
#   FUZZTIME=1m FUZZ=Domain scripts/fuzz.sh  targets whose name contains Domain
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-1m}
GO=${GO:-go}
failed=()
while IFS=: read -r file target; do
	[[ -n ${FUZZ:-} && $target != *"$FUZZ"* ]] && continue
	pkg=./$(dirname "$file")
	echo "== $pkg $target ($FUZZTIME)"
	if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ${FUZZFLAGS:-} "$pkg"; then
		failed+=("$pkg $target")
	fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | grep -v '^./web/' | sed -E 's/^\.\/([^:]*):func /\1:/' | sort)
if ((${#failed[@]})); then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi

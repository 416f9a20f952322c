#!/usr/bin/env bash
# Regenerates the gqlgen code and the CLI's genqlient client in a scratch
# copy of the tree and compares them with what is committed, so a schema
# change without `make generate` fails (and so does one that breaks an
# operation the CLI sends: genqlient validates them against the schema).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$root" --exclude=./bin --exclude=./data --exclude=./.git --exclude=./web/console/node_modules -cf - . | tar -C "$tmp" -xf -
(cd "$tmp" && go tool gqlgen generate && go tool genqlient cli/gql/genqlient.yaml)
status=0
for f in graph/generated.go graph/model/models_gen.go cli/gql/generated.go; do
  if ! cmp -s "$root/$f" "$tmp/$f"; then
    echo "$f is stale: run 'make generate' and commit the result" >&2
    status=1
  fi
done
for f in "$tmp"/resolvers/*.resolvers.go; do
  if ! cmp -s "$f" "$root/resolvers/$(basename "$f")"; then
    echo "resolvers/$(basename "$f") differs from what gqlgen generates: run 'make generate'" >&2
    status=1
  fi
done
exit $status

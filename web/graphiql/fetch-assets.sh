#!/usr/bin/env bash
# Fetches the pinned GraphiQL 4 / React 18 UMD builds from the npm registry into
# assets/ (embedded by the Go package), and checks each file against
# checksums.sha256. Idempotent: when every file is present with the pinned hash,
# it exits without touching the network.
#
# Usage: web/graphiql/fetch-assets.sh   (called by `make web-assets`)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest="$here/assets"
sums="$here/checksums.sha256"

# asset name              package@version   path inside the tarball
files=(
	"graphiql.min.js             graphiql@4.1.2    package/graphiql.min.js"
	"graphiql.min.css            graphiql@4.1.2    package/graphiql.min.css"
	"react.production.min.js     react@18.2.0      package/umd/react.production.min.js"
	"react-dom.production.min.js react-dom@18.2.0  package/umd/react-dom.production.min.js"
)

die() {
	echo "fetch-assets: ERROR: $*" >&2
	exit 1
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

pinned() {
	local sum
	sum=$(awk -v f="$1" '$2 == f { print $1 }' "$sums")
	[[ $sum =~ ^[0-9a-f]{64}$ ]] || die "no pinned SHA-256 for $1 in $sums"
	echo "$sum"
}

# The table above and checksums.sha256 must name the same files.
[[ -f $sums ]] || die "missing $sums"
[[ $(grep -c . "$sums") -eq ${#files[@]} ]] || die "$sums and the file table in $0 disagree"

up_to_date() {
	local name rest
	for entry in "${files[@]}"; do
		read -r name rest <<<"$entry"
		[[ -f $dest/$name ]] || return 1
		[[ $(sha256 "$dest/$name") == "$(pinned "$name")" ]] || return 1
	done
}

if up_to_date; then
	echo "fetch-assets: GraphiQL assets up to date in $dest"
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found (Node 20+ with npm is needed to fetch the GraphiQL assets)"

mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A tarball=()
for entry in "${files[@]}"; do
	read -r name spec path <<<"$entry"
	if [[ -z ${tarball[$spec]:-} ]]; then
		echo "fetch-assets: npm pack $spec"
		tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts "$spec" | tail -n 1)
		[[ -f $tmp/$tgz ]] || die "npm pack $spec produced no tarball"
		tarball[$spec]=$tmp/$tgz
	fi
	out="$tmp/x/$spec"
	mkdir -p "$out"
	tar -xzf "${tarball[$spec]}" -C "$out" "$path" || die "$path not found in $spec"
	got=$(sha256 "$out/$path")
	want=$(pinned "$name")
	[[ $got == "$want" ]] || die "SHA-256 mismatch for $name ($spec $path): got $got, want $want"
	# Write next to the target, then rename, so a failed run never leaves a partial file.
	cp "$out/$path" "$dest/.$name.tmp"
	mv -f "$dest/.$name.tmp" "$dest/$name"
	echo "fetch-assets: $name OK"
done

#!/usr/bin/env bash
# Installable like a tool: `npm pack` gives a package with dist/ and no tests,
# and `npm install -g` of it into a temporary prefix gives a working `distctl`
# that validates the reference topology outside this checkout.
# Exit 0 passed, 1 failed, 3 could not run (no package metadata: see below).
set -uo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "package check failed: $*"; exit 1; }

# `prepack` empties dist/ and `prepare` rebuilds it, so the package holds exactly the current source.
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
[ -n "$tarball" ] && [ -f "$work/$tarball" ] || fail "npm pack wrote no tarball"
listing=$(tar -tzf "$work/$tarball")
required_files="dist/cli/main.js bin/distctl templates/service.service src/services/web/main.ts topology.yaml
  topology.schema.json"
for required in $required_files; do
  grep -qx "package/$required" <<<"$listing" || fail "$tarball lacks $required"
done
if grep -E '^package/(test|bench|coverage)/|\.test\.[cm]?[jt]s$' <<<"$listing"; then
  fail "$tarball holds tests (listed above)"
fi
echo "packed $tarball: $(wc -l <<<"$listing") files, dist/ included, no tests"

# dist/cli is esbuild's code-split bundle (bin/build.mjs), not a file per module; what `--help` loads before it
# runs (main.js and the chunks it imports statically) holds commander and chalk, and no other package.
grep -q '^package/dist/topology/' <<<"$listing" && fail "$tarball holds a file-per-module dist/, not the CLI bundle"
mkdir "$work/unpacked" && tar -xzf "$work/$tarball" -C "$work/unpacked"
help_packages=$(node --input-type=module - "$work/unpacked/package/dist/cli" <<'JS'
import { readFileSync } from 'node:fs';
const [dir] = process.argv.slice(2);
const seen = new Set();
const packages = new Set();
const visit = (file) => {
  if (seen.has(file)) return;
  seen.add(file);
  const text = readFileSync(`${dir}/${file}`, 'utf8');
  // esbuild heads each bundled module with a `// path` comment.
  for (const [, name] of text.matchAll(/^\/\/ (?:\S*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)) packages.add(name);
  for (const [, chunk] of text.matchAll(/^import\s(?:[^;]*?\sfrom\s*)?"\.\/([^"]+)"/gms)) visit(chunk);
};
visit('main.js');
console.log([...packages].sort().join(' '));
JS
)
[ "$help_packages" = "chalk commander" ] || fail "dist/cli/main.js loads [$help_packages] at start-up, not [chalk commander]"
echo "the CLI bundle's start-up graph holds $help_packages only"

# Package tarballs come from the cache `npm ci` filled; `npm ci` caches no package metadata, which
# resolving the package's dependency ranges needs, so that (only) may come from the registry.
prefix="$work/prefix"
mkdir -p "$prefix"
# Installed as a user would: from outside this checkout (its .npmrc is the project's, not the user's) and
# without the npm_config_* settings `npm test` hands its children.
unset_npm_config=()
for name in $(env | grep -o '^npm_config_[A-Za-z0-9_]*'); do unset_npm_config+=(-u "$name"); done
if ! (cd "$work" && env "${unset_npm_config[@]}" npm install --global --prefix "$prefix" --prefer-offline --no-audit \
  --no-fund --loglevel=error "$work/$tarball") >"$work/install.log" 2>&1; then
  cat "$work/install.log"
  if grep -qE 'ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$work/install.log"; then
    echo "package check skipped: the npm registry is unreachable and the cache lacks the dependencies' metadata"
    exit 3
  fi
  fail "npm install -g of the tarball into a temporary prefix failed (above)"
fi
mkdir "$work/project"
cp topology.yaml topology.schema.json "$work/project/"
(cd "$work/project" && NO_COLOR=1 "$prefix/bin/distctl" validate) \
  || fail "the installed distctl did not validate the reference topology"
echo "installed into a temporary prefix: distctl $("$prefix/bin/distctl" --version)" \
  "runs \`distctl validate\` outside the checkout"

#!/usr/bin/env bash
# Makes sure the base image the integration tier launches exists, building it
# with distctl itself (`distctl image build`, ~75 s) when it does not. Run after
# ensure-incus.sh, as root, from anywhere; never reads stdin.
set -euo pipefail
cd "$(dirname "$0")/../.."

ALIAS=debian12-distctl

step() { printf '[ensure-image] %s\n' "$*"; }

if incus query "/1.0/images/aliases/${ALIAS}?project=default" </dev/null >/dev/null 2>&1; then
  step "image ${ALIAS} already present"
else
  step "image ${ALIAS} missing: building it with distctl image build"
  start=$(date +%s)
  if ! node bin/distctl image build --alias "$ALIAS" </dev/null; then
    printf '[ensure-image] ERROR: distctl image build --alias %s failed\n' "$ALIAS" >&2
    printf '[ensure-image]   hint: run it by hand to see the step that failed (needs root, debootstrap and a reachable Debian mirror)\n' >&2
    exit 1
  fi
  step "built ${ALIAS} in $(( $(date +%s) - start ))s"
fi

# The reference topology names the image by recipe (`image: { build: debian/bookworm }`), whose alias
# is a digest of what goes into it. `distctl image build` made the same image from the same recipe,
# so the recipe's alias is put on it: one debootstrap serves every tier instead of two.
# dist/ holds the bundled CLI only, so the recipe module is bundled from the source here.
RECIPE_ALIAS=$(printf '%s\n' "import { parseRecipe, recipeAlias } from './src/image/recipe.ts';" \
  "console.log(recipeAlias(parseRecipe('debian/bookworm')!));" \
  | npx --no-install esbuild --bundle --platform=node --format=cjs --loader=ts --log-level=warning | node)
if incus query "/1.0/images/aliases/${RECIPE_ALIAS}?project=default" </dev/null >/dev/null 2>&1; then
  step "image ${RECIPE_ALIAS} already present"
else
  fingerprint=$(incus query "/1.0/images/aliases/${ALIAS}?project=default" </dev/null | node -e "let t='';process.stdin.on('data',(c)=>t+=c).on('end',()=>console.log(JSON.parse(t).target))")
  incus image alias create "${RECIPE_ALIAS}" "${fingerprint}" </dev/null
  step "aliased ${RECIPE_ALIAS} to ${ALIAS} (${fingerprint:0:12}): same recipe, built once"
fi


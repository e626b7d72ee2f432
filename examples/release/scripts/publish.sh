#!/usr/bin/env bash
# Publishes every file the builds kept ($SLIPWAY_INPUTS/<task>/dist/...) to one destination.
# The token would authenticate the upload; it is masked if anything prints it.
if [ -z "${PUBLISH_TOKEN:-}" ]; then
  echo "PUBLISH_TOKEN is not set: slipway secrets set PUBLISH_TOKEN" >&2
  exit 1
fi
target="$OUT/$DESTINATION"
mkdir -p "$target"
for file in "$SLIPWAY_INPUTS"/*/dist/*; do
  cp "$file" "$target/"
  echo "published $(basename "$file") to $DESTINATION"
done
# What a registry would check: the installer is what its checksum says.
(cd "$target" && sha256sum --check --quiet ./*.sha256)

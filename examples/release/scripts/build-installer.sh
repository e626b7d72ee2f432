#!/usr/bin/env bash
# A stand-in for building a Windows installer, with its checksum beside it.
mkdir -p dist
printf 'hello %s: the installer\n' "$VERSION" > "dist/hello-$VERSION-x64.msi"
(cd dist && sha256sum "hello-$VERSION-x64.msi" > "hello-$VERSION-x64.msi.sha256")
echo "built dist/hello-$VERSION-x64.msi"

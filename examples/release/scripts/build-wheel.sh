#!/usr/bin/env bash
# A stand-in for `python -m build --wheel`: a zip-named file with the version in it.
mkdir -p dist
printf 'hello %s: the wheel\n' "$VERSION" > "dist/hello-$VERSION-py3-none-any.whl"
echo "built dist/hello-$VERSION-py3-none-any.whl"

#!/bin/sh
# Builds {{name}}.wasm, a wprobe handler component, with componentize-js as the wprobe checkout
# installed it (npm ci --prefix guest-sdk/js). WPROBE is the checkout whose SDK and WIT are used.
set -eu
cd "$(dirname "$0")"
WPROBE=${WPROBE:-{{sdk}}}
# componentize-js lets a module import only files at or below its own folder: stage the
# handler beside the SDK's modules. WASI stdio stays on: the SDK writes whole lines through
# console.log (as `cargo xtask handlers` builds the examples).
rm -rf build && mkdir build
cp "$WPROBE"/guest-sdk/js/*.js build/
cp {{name}}.js build/
node "$WPROBE/guest-sdk/js/node_modules/@bytecodealliance/componentize-js/src/cli.js" \
    --wit "$WPROBE/wit" --world-name handler --disable random clocks http fetch-event \
    --out {{name}}.wasm build/{{name}}.js
echo "built {{name}}.wasm"

#!/bin/sh
# Builds {{name}}.wasm, a wprobe handler component, with componentize-py
# (pip install componentize-py==0.25.1). WPROBE is the wprobe checkout whose SDK and WIT are used.
set -eu
cd "$(dirname "$0")"
WPROBE=${WPROBE:-{{sdk}}}
PYTHONDONTWRITEBYTECODE=1 componentize-py --wit-path "$WPROBE/wit" --world handler componentize \
    --python-path "$WPROBE/guest-sdk/python" --python-path . {{name}} --output {{name}}.wasm
echo "built {{name}}.wasm"

#!/usr/bin/env bash
# Run every test: unit, fuzz seeds and end-to-end sessions with the real gdb,
# gdbserver (for comparison) and lldb. Needs Go (1.26+); installs the system
# packages the tests drive with apt-get when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in gdb:gdb gdbserver:gdbserver lldb-16:lldb-16 gcc:gcc; do
	command -v "${p%%:*}" >/dev/null || need+=("${p##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"
fi

go vet ./...
# -count=1: the integration tests build gostub themselves, which the test
# cache cannot see; a cached pass could hide a change to the server.
go test -count=1 -timeout 14m ./... "$@"

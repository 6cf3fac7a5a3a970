#!/usr/bin/env bash
# Build gostub, compile a small program, serve it and drive a short gdb
# session against it, printing everything. Needs Go (1.26+) on PATH; installs
# gdb and gcc with apt-get when they are missing (as root or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gdb >/dev/null || need+=(gdb)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/gostub" ./cmd/gostub
gcc -g -O0 -o "$work/loop" testdata/loop.c

port=$(( 20000 + RANDOM % 20000 ))
echo "+ gostub --once :$port $work/loop 3"
"$work/gostub" --once ":$port" "$work/loop" 3 >"$work/stub.log" 2>&1 &
stub=$!
# Wait for the line tools wait for, without taking the one connection.
for _ in $(seq 100); do
	grep -q "Listening on port" "$work/stub.log" && break
	sleep 0.05
done

echo "+ gdb -batch -ex 'target remote :$port' ..."
gdb -nx -batch -ex 'set confirm off' -ex "target remote :$port" \
	-ex 'break add' -ex 'continue' -ex 'bt' -ex 'next' -ex 'print sum' \
	-ex 'info registers rip' -ex 'finish' -ex 'delete' -ex 'continue' \
	"$work/loop" 2>&1 | sed 's/^/  [gdb] /'
wait "$stub" || true
sed 's/^/  [gostub] /' "$work/stub.log"

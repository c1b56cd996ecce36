#!/bin/sh
# make demo: runs icwmpd against the project's loopback test ACS with the
# config in files/demo/, shows the session log, queries the data model of
# this host through the `icwmp` wrapper, and stops the daemon cleanly.
set -eu
cd "$(dirname "$0")/.."
bin=target/release
run=demo-run
port=${DEMO_ACS_PORT:-17547}
rm -rf "$run"
mkdir -p "$run"
sed "s/@ACS_PORT@/$port/" files/demo/cwmp > "$run/cwmp"

"$bin/examples/test_acs" "$port" 1 &
acs=$!
sleep 0.3
"$bin/icwmpd" --config "$run" &
daemon=$!
trap 'kill "$daemon" "$acs" 2>/dev/null || true' EXIT

status=0
wait "$acs" || status=$?
if [ "$status" -ne 0 ]; then
	echo "demo: the session did not complete" >&2
	exit 1
fi
echo
echo "\$ icwmp get Device.DeviceInfo."
ICWMPD="$bin/icwmpd" ICWMPD_ARGS="--config $run" sh files/usr/sbin/icwmp get Device.DeviceInfo.
kill -TERM "$daemon"
wait "$daemon"
trap - EXIT
echo "demo: done (state and log in $run/)"

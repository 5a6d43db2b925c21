#!/bin/sh
# Measures evlog snapshot and evlog restore on a log of about 1 GiB, next
# to a plain cp -r of the same files, with /usr/bin/time -v on the real
# binary: wall time, MB/s and peak RSS of each command, and the peak RSS
# of the serving process while it streams the snapshot. Not run by CI:
# it writes about 4 GiB to WORK (default a new directory under /tmp).
#
#   sh docs/snapshot-figure.sh [WORK]
#
# The page cache is warm (the log was just written), as after a busy day;
# drop caches first (as root: sync; echo 3 > /proc/sys/vm/drop_caches) to
# measure a cold disk.
set -eu
work=${1:-$(mktemp -d /tmp/evlog-snapfig.XXXXXX)}
mkdir -p "$work"
bin=$work/evlog
go build -o "$bin" ./cmd/evlog
port=$(( 20000 + $$ % 20000 ))
url=nats://127.0.0.1:$port

serve() {
	"$bin" serve --dir "$1" --nats-listen 127.0.0.1:$port --sync never --log-level warn &
	pid=$!
	until "$bin" info --nats-url $url >/dev/null 2>&1; do sleep 0.2; done
}
stop() { kill -TERM $pid; wait $pid || true; }

# 1 GiB: 262144 records of 4 KiB.
serve "$work/src"
"$bin" bench --nats-url $url --mode append --clients 4 --inflight 4 --batch 64 --size 4096 --records 262144 >/dev/null
stop

# Restarted, so that what is sampled below is the snapshot's. The log's
# stores are memory-mapped, so the server's RSS also counts the pages of
# the log it has read, which the kernel may reclaim at will: RssAnon, the
# memory the process allocated itself, is sampled apart.
serve "$work/src"
: >"$work/serve.rss"
( while kill -0 $pid 2>/dev/null; do awk '/RssAnon|RssFile/ {printf "%s %s ", $1, $2} END {print ""}' /proc/$pid/status >>"$work/serve.rss"; sleep 0.2; done ) &
sampler=$!
/usr/bin/time -v "$bin" snapshot --nats-url $url --out "$work/log.snap" 2>"$work/snapshot.time" </dev/null
serve_hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill $sampler; wait $sampler 2>/dev/null || true
serve_anon=$(awk '{ if ($2 > m) m = $2 } END { print m }' "$work/serve.rss")
stop
/usr/bin/time -v "$bin" restore --in "$work/log.snap" --dir "$work/restored" 2>"$work/restore.time" </dev/null
/usr/bin/time -v cp -r "$work/src" "$work/copy" 2>"$work/cp.time"

bytes=$(stat -c %s "$work/log.snap")
files=$(du -sb "$work/src" | cut -f1)
report() { # name, bytes, time file
	awk -v name="$1" -v bytes="$2" '
		/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
		/Maximum resident set size/ { rss = $NF }
		END { printf "| %s | %.1f s | %.0f MB/s | %.0f MiB |\n", name, s, bytes / s / 1e6, rss / 1024 }' "$3"
}
echo "log: $files bytes in $(ls "$work/src"/*.store | wc -l) segments; snapshot: $bytes bytes"
echo "| command | time | rate | peak RSS |"
echo "| --- | --- | --- | --- |"
report "evlog snapshot (client)" "$bytes" "$work/snapshot.time"
echo "| evlog serve while streaming it | | | $((serve_anon / 1024)) MiB anonymous, $((serve_hwm / 1024)) MiB with the mapped log |"
report "evlog restore" "$bytes" "$work/restore.time"
report "cp -r" "$files" "$work/cp.time"
echo "files left in $work"

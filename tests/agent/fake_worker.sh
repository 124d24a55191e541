#!/bin/sh
# fake_worker.sh - stands in for vrampack-worker in the agent tests: appends one line with its
# arguments and environment to $VP_FAKE_WORKER_LOG, then behaves by its placement id:
#   crash*   prints a reason on stderr and exits 3 before ready
#   stubborn* says ready and ignores SIGTERM (the agent must SIGKILL it)
#   anything else: says ready, then runs until SIGTERM and exits 0.
echo "pid=$$ args=$* cvd=$CUDA_VISIBLE_DEVICES placement=$VRAMPACK_PLACEMENT node=$VRAMPACK_NODE" \
    >> "${VP_FAKE_WORKER_LOG:-/dev/null}"
case "$VRAMPACK_PLACEMENT" in
crash*)
    echo "fake worker: out of memory laying out the slice" >&2
    exit 3
    ;;
stubborn*)
    trap '' TERM
    ;;
*)
    trap 'exit 0' TERM
    ;;
esac
echo '{"event":"starting"}'
echo '{"event":"ready","bytes_used":1}'
while :; do
    sleep 30 &
    wait $!
done

# What the benchmark scripts share; sourced, after NAME (the script's name
# in messages) and RESULTS_DIR (where the logs are) are set.

# wait_ready <what> <pid> <url>: until <url> answers 2xx (60 s at most);
# exits when the process is gone or the time is up.
wait_ready() {
  for _ in $(seq 120); do
    kill -0 "$2" 2>/dev/null || { echo "$NAME: $1 exited at start; log in $RESULTS_DIR" >&2; exit 1; }
    curl -fs -o /dev/null "$3" && return 0
    sleep 0.5
  done
  echo "$NAME: $1 not ready at $3 after 60 s" >&2; exit 1
}

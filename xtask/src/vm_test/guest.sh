# Payload of `cargo xtask vm-test`: runs uprof's integration tests inside the VM, each test in a
# process of its own, and reports each with the protocol of xtask/src/vm/protocol.rs. The host
# appends TEST_TIMEOUT, one run_test call per test, and the closing UPROF-DONE.

# CI=true: a test that cannot do its job fails instead of skipping.
export CI=true RUST_BACKTRACE=1
cd /tmp

# run_test EXECUTABLE BINARY TEST: runs TEST of the libtest EXECUTABLE on its own, shows its
# output and duration, and prints `UPROF-TEST BINARY::TEST PASS` or `... FAIL <reason>`. One test
# per process keeps a hanging test from taking the others' results with it. The result comes
# from the exit status and libtest's closing summary, not from the `test NAME ... ok` line, which
# the test's child processes may interleave with their own output.
run_test() {
    out=$(mktemp)
    echo "--- $2::$3"
    started=$(uptime_seconds)
    timeout "$TEST_TIMEOUT" "$1" --exact "$3" --test-threads=1 >"$out" 2>&1
    status=$?
    cat "$out"
    awk -v from="$started" -v to="$(uptime_seconds)" 'BEGIN { printf "took %.2f s\n", to - from }'
    if [ "$status" -eq 0 ] && grep -q '^test result: ok\. 1 passed' "$out"; then
        echo "UPROF-TEST $2::$3 PASS"
    else
        echo "UPROF-TEST $2::$3 FAIL $(failure_reason "$out" "$status")"
    fi
    rm -f "$out"
}

# uptime_seconds: seconds since boot, to the hundredth (busybox `date` counts whole seconds).
uptime_seconds() {
    cut -d ' ' -f 1 /proc/uptime
}

# failure_reason OUTPUT STATUS: one line saying why a test failed: its panic message (up to four
# lines, joined with " | ") and where it panicked, else how its process ended.
failure_reason() {
    # libtest: "thread 'NAME' (TID) panicked at FILE:LINE:COLUMN:", the message, a blank line or
    # the backtrace.
    panic=$(awk '
        /^thread .* panicked at / && !found { place = $NF; sub(/:$/, "", place); found = 1; next }
        found {
            if ($0 == "" || /^stack backtrace:/ || /^note: / || lines == 4) exit
            sub(/^ +/, "")
            message = lines++ ? message " | " $0 : $0
        }
        END { if (found) print message " (at " place ")" }' "$1")
    if [ -n "$panic" ]; then
        echo "$panic"
    elif [ "$2" -eq 143 ]; then
        echo "killed after $TEST_TIMEOUT s (SIGTERM from timeout)"
    elif [ "$2" -gt 128 ]; then
        echo "killed by signal $(($2 - 128))"
    elif [ "$2" -ne 0 ]; then
        echo "exit status $2: $(grep . "$1" | tail -n 1)"
    else
        echo "did not run: $(grep '^test result:' "$1")"
    fi
}

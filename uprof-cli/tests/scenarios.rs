//! uprof's report equals the exact counts of programs with known epoll behaviour
//! (`uprof-testprogs`' `epoll-scenario`), traced from their first instruction.
mod support;

use support::{assert_report_matches, trace_scenario};

fn check(args: &[&str]) {
    let (said, report) = trace_scenario(args);
    assert_report_matches(&said, &report);
}

#[test]
fn timeouts() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["timeouts"]);
}

#[test]
fn ready_events_on_pipe_socket_and_eventfd() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["ready"]);
}

#[test]
fn epoll_wait_pwait_and_pwait2() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["syscalls"]);
}

#[test]
fn waits_interrupted_by_signals() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["eintr"]);
}

#[test]
fn fd_number_reused_after_close_is_a_new_entry() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = trace_scenario(&["fd-reuse"]);
    assert_report_matches(&said, &report);
    let fds = report["epolls"][0]["fds"].as_array().unwrap();
    assert_eq!(
        fds[0]["fd"], fds[1]["fd"],
        "the reused number appears twice"
    );
}

#[test]
fn second_thread_with_its_own_loop() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = trace_scenario(&["threads"]);
    assert_report_matches(&said, &report);
    let worker = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["comm"] == "worker-1");
    assert!(
        worker.is_some(),
        "the renamed thread is reported under its new name: {report:#}"
    );
}

#[test]
fn forked_child_is_followed() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = trace_scenario(&["child"]);
    assert!(
        !said["children"].as_array().unwrap().is_empty(),
        "the scenario forks a child"
    );
    assert_report_matches(&said, &report);
}

#[test]
fn thread_blocked_when_the_process_exits() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["exit-mid-wait"]);
}

#[test]
fn poll_ppoll_select_pselect6() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["poll"]);
}

#[test]
fn many_fds() {
    if !support::may_load_ebpf() {
        return;
    }
    check(&["many-fds", "200"]);
}

/// One thread closes an fd while another takes the freed number for a new fd (an eventfd, an
/// accepted socket, an epoll instance) and adds it to an epoll instance before the `close` has
/// returned: each new fd is its own generation, with exactly its own calls and events.
#[test]
fn fd_number_reused_by_another_thread_during_close() {
    let (said, report) = trace_scenario(&["fd-reuse-race"]);
    assert_report_matches(&said, &report);
    let race = &said["race"];
    println!("fd-reuse-race: {race}");
    let (cpus, overlapped) = (race["cpus"].as_u64(), race["overlapped"].as_u64());
    // With two CPUs the calls overlap in most rounds; on one they take turns, and only the
    // figures above are checked.
    if cpus == Some(2) {
        assert!(overlapped > Some(0), "no round overlapped: {race}");
    }
}

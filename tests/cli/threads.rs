//! The server's threads: fjall runs two workers for flushes and compactions, whatever the machine's cores, at a
//! lower priority than the threads that answer requests. With one, fjall 3.1's worker can block for good on its
//! own full queue (it sends a flush on after a rotation while writers fill the queue with rotation requests),
//! after which memtables and the journal grow without bound.

use dq_testkit::Process;

/// The nice values of the threads of process `pid` named `name`.
fn nice_of_threads_named(pid: u32, name: &str) -> Vec<i64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            // `stat` is "tid (comm) state …": the nice value is the 19th field, the 17th after the comm.
            let stat = std::fs::read_to_string(task.join("stat")).ok()?;
            let after_comm = &stat[stat.rfind(')')? + 1..];
            after_comm.split_whitespace().nth(16)?.parse().ok()
        })
        .collect()
}

#[test]
fn the_store_runs_two_fjall_workers_below_the_request_threads() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, _url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let workers = nice_of_threads_named(up.pid(), "fjall:worker");
    let request_threads = nice_of_threads_named(up.pid(), "tokio-rt-worker");
    up.terminate();
    assert_eq!(
        workers,
        [10, 10],
        "fjall workers: two (a lone one can deadlock on its own full queue), at nice 10"
    );
    assert!(!request_threads.is_empty());
    assert!(
        request_threads.iter().all(|&nice| nice == 0),
        "request threads keep the process's priority: {request_threads:?}"
    );
}

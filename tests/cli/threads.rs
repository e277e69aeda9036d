//! The server's threads: fjall runs two workers for flushes and compactions, whatever the machine's cores. With
//! one, fjall 3.1's worker can block for good on its own full queue (it sends a flush on after a rotation while
//! writers fill the queue with rotation requests), after which memtables and the journal grow without bound.

use dq_testkit::Process;

/// How many threads of process `pid` are named `name`.
fn threads_named(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|comm| comm.trim() == name)
        })
        .count()
}

#[test]
fn the_store_runs_two_fjall_workers() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, _url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let workers = threads_named(up.pid(), "fjall:worker");
    up.terminate();
    assert_eq!(
        workers, 2,
        "fjall worker threads (a lone one can deadlock on its own full queue)"
    );
}

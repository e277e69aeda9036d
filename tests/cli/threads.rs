//! The server's threads: fjall runs one worker for flushes and compactions, not one per core (with several,
//! fjall 3.1's first worker spins handing compactions to the others while they are busy).

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
fn the_store_runs_one_fjall_worker() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, _url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let workers = threads_named(up.pid(), "fjall:worker");
    up.terminate();
    assert_eq!(workers, 1, "fjall worker threads (with several, one spins)");
}

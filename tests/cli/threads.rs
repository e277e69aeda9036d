//! The server's threads: fjall runs one worker for flushes and compactions, whatever the machine's cores (with
//! two, fjall 3.1's first worker spins on compactions handed back while the second is busy), and the store's own
//! thread seals full memtables (without it, fjall's writers ask the lone worker for rotations, and it can block
//! for good on its own full queue).

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
fn the_store_runs_one_fjall_worker_and_seals_memtables_itself() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, _url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let workers = threads_named(up.pid(), "fjall:worker");
    let rotation = threads_named(up.pid(), "dq-broker-seal");
    up.terminate();
    assert_eq!(workers, 1, "fjall worker threads (a second one spins)");
    assert_eq!(rotation, 1, "memtable rotation threads");
}

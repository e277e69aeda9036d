//! A small disk that can be filled for real (for the broker's, the server's and the CLI's tests): a tmpfs mounted on a temporary dir (unmounted when dropped), and
//! values that do not compress. Mounting needs root; where it is not allowed, [`Tmpfs::mount`] prints a note
//! and the test returns early.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// A tmpfs mounted on a temporary dir, unmounted when dropped.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `4m`), or `None` (with a note on stderr) where mounting is not allowed.
    pub fn mount(size: &str) -> Option<Self> {
        let dir = TempDir::new().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            Ok(out) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts it at `size` (e.g. to free space after a test filled it).
    pub fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount to {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: detached at once even if a process that failed to stop still holds files in it.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `len` bytes of hex that no compressor shrinks much (xorshift from `seed`).
pub fn incompressible(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(len);
    out
}

//! A full disk, on a small tmpfs: writes are refused in words a person reads,
//! health and doctor say the store is degraded, nothing acknowledged is lost,
//! and writes go through again once space is freed, with no restart.

use std::io::Write as _;
use std::path::PathBuf;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use serde_json::Value;

use super::harness::{Home, describe, request};

/// The tmpfs's size, and the free space below which writes are refused.
const DISK: u64 = 32 * 1024 * 1024;
const RESERVE: u64 = 4 * 1024 * 1024;

/// A tmpfs mounted on the home's data dir, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// `None`, having said why, where this machine cannot mount one (not root).
    fn mount(home: &Home) -> Option<Self> {
        let dir = home.data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let options = format!("size={DISK},mode=0700");
        match mount(Some("tmpfs"), &dir, Some("tmpfs"), MsFlags::empty(), Some(options.as_str())) {
            Ok(()) => Some(Self(dir)),
            Err(err) => {
                eprintln!("cannot mount a tmpfs here ({err}): the full-disk test needs root, and does not run");
                None
            }
        }
    }

    fn free(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.0).unwrap();
        stat.blocks_available() * stat.fragment_size()
    }

    /// Fills the disk until `left` bytes are free.
    fn fill_until(&self, left: u64) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        while self.free() > left {
            let room = usize::try_from(self.free() - left).unwrap();
            file.write_all(&chunk[..room.min(chunk.len())]).unwrap();
        }
        file.sync_all().unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn health(home: &Home) -> Value {
    json_of(&request(&home.socket(), "GET", "/v1/health", None).unwrap().1)
}

fn observations(home: &Home, session: &str) -> usize {
    json_of(&home.ok(&["queue", "list", "--session", session, "--json"])).as_array().unwrap().len()
}

#[test]
fn a_full_disk_refuses_writes_clearly_keeps_what_was_acknowledged_and_writes_resume_once_space_is_freed() {
    let home = Home::new();
    let Some(disk) = SmallDisk::mount(&home) else { return };
    let config = home.dir.path().join("config/baton/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("[engine]\nstore_reserve_bytes = {RESERVE}\n")).unwrap();
    let daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "on-a-small-disk"]).trim().to_owned();
    let observe = |n: usize| home.run(&["observe", "--session", &session, "--data", &format!("{{\"n\": {n}}}")]);
    for n in 0..50 {
        let output = observe(n);
        assert!(output.status.success(), "{}", describe(&output));
    }
    assert_eq!(health(&home)["status"], "ok");

    let filler = disk.fill_until(RESERVE / 2);
    let refused = observe(50);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let words = format!("the disk holding {} is full", home.data_dir().join("store").display());
    assert!(stderr.contains(&words), "{stderr}");
    assert!(!stderr.contains("os error") && !stderr.contains("StorageFull"), "{stderr}");
    let degraded = health(&home);
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert!(degraded["reason"].as_str().unwrap().contains(&words), "{degraded}");
    let doctor = home.run(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.lines().any(|line| line.contains("store writes") && line.contains(&words)), "{report}");
    assert_eq!(observations(&home, &session), 50, "reads still answer, with all that was acknowledged");

    std::fs::remove_file(&filler).unwrap();
    let resumed = observe(50);
    assert!(resumed.status.success(), "writes did not resume once space was freed: {}", describe(&resumed));
    assert_eq!(health(&home), serde_json::json!({"status": "ok"}));
    assert_eq!(observations(&home, &session), 51);

    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let daemon = home.serve();
    assert_eq!(observations(&home, &session), 51, "an acknowledged write was lost");
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

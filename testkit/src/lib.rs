//! What iclear's tests start for real and stop afterwards. A test that needs a Kafka
//! broker runs tansu, the Kafka-protocol broker `scripts/install-tansu.sh` installs, with
//! SQLite storage in a directory of the test's, so that a restart keeps every message.
//! `tls` makes the certificates a node must refuse (expired, not yet valid).

mod ports;
pub mod tls;

pub use ports::free_port;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tansu binary (`ICLEAR_TANSU`, else `/opt/tansu/bin/tansu`), or `None` with a
/// notice that the test is skipped. With `ICLEAR_REQUIRE_KAFKA=1` (scripts/test.sh) a
/// missing broker is a failure instead.
pub fn tansu() -> Option<PathBuf> {
    let path = std::env::var_os("ICLEAR_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tansu/bin/tansu"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("ICLEAR_REQUIRE_KAFKA").as_deref() != Ok("1"),
        "ICLEAR_REQUIRE_KAFKA=1 but no tansu at {} (scripts/install-tansu.sh installs it)",
        path.display()
    );
    eprintln!(
        "\n*** NOTICE: no tansu at {}: this Kafka test is SKIPPED (scripts/test.sh installs and runs it). ***\n",
        path.display()
    );
    None
}

/// Starts `cmd` with no input and its output and errors appended to the file `log` (kept
/// for a failing test to show); `what` names it if it cannot start.
pub fn spawn_logged(cmd: &mut Command, log: &Path, what: &str) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("{what}'s log {}: {e}", log.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("{what}'s log: {e}"));
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"))
}

/// A child process, killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// Stops it as an operator does (SIGTERM) and waits up to 30 s for it to leave; killed
    /// after that.
    pub fn stop(mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tansu broker keeping its data in a directory; killed when dropped.
pub struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker on a free port with its storage in `dir`, or `None` (skipped) when
    /// tansu is not installed.
    pub fn start_in(dir: &Path) -> Option<Broker> {
        let mut b = Broker {
            bin: tansu()?,
            dir: dir.to_path_buf(),
            port: free_port(),
            child: None,
        };
        b.start();
        Some(b)
    }

    /// Starts it (again, on the same port and storage) and waits until it listens.
    pub fn start(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = spawn_logged(
            Command::new(&self.bin)
                .current_dir(&self.dir)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "sqlite://tansu.db"]),
            &self.dir.join("broker.log"),
            "tansu",
        );
        self.child = Some(child);
        let log = self.dir.join("broker.log");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the broker never listened (its log: {})",
                log.display()
            );
            self.exited_early(&log);
            std::thread::sleep(Duration::from_millis(100));
        }
        // Something else may have been listening on the port: the broker then fails to bind
        // and leaves, which the connection above did not show.
        std::thread::sleep(Duration::from_millis(100));
        self.exited_early(&log);
    }

    /// Panics, naming its log, if the broker started last has exited.
    fn exited_early(&mut self, log: &Path) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "the broker on port {} exited ({status}) before serving: see {}",
                self.port,
                log.display()
            );
        }
    }

    /// Kills it (SIGKILL): what it acknowledged is in its storage.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `HOST:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `name` with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string(), name])
            .output()
            .expect("tansu topic create runs");
        assert!(out.status.success(), "topic {name}: {out:?}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

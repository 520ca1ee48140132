//! A CNC as a third-party OPC UA server: python asyncua (`opcua_server.py` beside this file),
//! a library this project did not write, so the agent's OPC UA client is tested against
//! another implementation's idea of NaN, infinity, Bad statuses, sessions, address spaces and
//! certificates.
//!
//! asyncua (and pymodbus, for `pymodbus.rs`) are installed at the versions pinned here into a
//! virtual environment under the target directory (`<target>/python/asyncua-<v>-pymodbus-<v>`)
//! by the first test that needs them, with `python3 -m venv` and pip from PyPI; `./tests/run`
//! makes sure python3 and its venv module are on the machine. A machine that cannot install
//! them fails the test saying what to install; the test never passes without the server.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The asyncua release the tests run against (its session registry is read by the server
/// script, and it keeps a session with subscriptions alive after its connection is lost).
pub const ASYNCUA: &str = "2.1.0";
/// The pymodbus release the MQL unit of `pymodbus.rs` runs on (its 3.8 datastore API).
pub const PYMODBUS: &str = "3.8.6";

/// The packages of the test's Python, pinned.
const PACKAGES: [(&str, &str); 2] = [("asyncua", ASYNCUA), ("pymodbus", PYMODBUS)];

/// `<target>/python/asyncua-<version>`: the test binary runs from `<target>/<profile>/deps`.
fn venv_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent()?.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target
        .join("python")
        .join(format!("asyncua-{ASYNCUA}-pymodbus-{PYMODBUS}"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The venv's python with asyncua and pymodbus installed, installing them the first time.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let dir = venv_dir();
            let py = dir.join("bin").join("python");
            std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
            // Test binaries may run at once: one installs, the others wait for it.
            let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
            // SAFETY: flock on a file descriptor this function owns; released on close.
            unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            let check: Vec<String> = PACKAGES
                .iter()
                .map(|(p, v)| format!("assert m.version('{p}') == '{v}'"))
                .collect();
            let check = format!("import importlib.metadata as m; {}", check.join("; "));
            let installed =
                || run(Command::new(&py).args(["-c", &check]), "python packages").is_ok();
            if !installed() {
                let _ = std::fs::remove_dir_all(&dir);
                run(
                    Command::new("python3").arg("-m").arg("venv").arg(&dir),
                    "python3 -m venv",
                )
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nthe OPC UA and Modbus tests need python3 with venv and pip: \
                         apt-get install python3 python3-venv (./tests/run does)"
                    )
                });
                let pins: Vec<String> = PACKAGES.iter().map(|(p, v)| format!("{p}=={v}")).collect();
                run(
                    Command::new(&py)
                        .args([
                            "-m",
                            "pip",
                            "install",
                            "--quiet",
                            "--disable-pip-version-check",
                        ])
                        .args(&pins),
                    "pip install",
                )
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nthe OPC UA and Modbus tests need {} from PyPI",
                        pins.join(" ")
                    )
                });
                assert!(installed(), "{PACKAGES:?} installed but not importable");
            }
            py
        })
        .clone()
}

/// A running asyncua server, ended when dropped.
pub struct OpcUaServer {
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// `opc.tcp://127.0.0.1:PORT/`
    pub endpoint: String,
    /// The index of the test namespace, for `ns=` node ids.
    pub ns: u16,
}

impl OpcUaServer {
    /// Serves `nodes` (name, value as `opcua_server.py` reads it: `nan`, `inf`, `3.5`,
    /// `i32:1001`, `true`, `"T1"`, `bad:BadSensorFailure`) under string node ids in the test
    /// namespace; a name with `/` is a path from the Objects folder, `NAME#ID` a numeric id.
    pub fn start(nodes: &[(&str, &str)]) -> OpcUaServer {
        Self::launch(&[], nodes)
    }

    /// As [`OpcUaServer::start`], with Basic256Sha256 / SignAndEncrypt only: the server's
    /// certificate is `server_certificate(pki)` and it trusts the client certificates in
    /// `pki/trusted`.
    pub fn start_secure(pki: &Path, nodes: &[(&str, &str)]) -> OpcUaServer {
        std::fs::create_dir_all(pki.join("trusted")).unwrap();
        Self::launch(&["--secure".into(), pki.display().to_string()], nodes)
    }

    /// The certificate (DER) a server started with `start_secure(pki, …)` presents.
    pub fn server_certificate(pki: &Path) -> PathBuf {
        pki.join("server_cert.der")
    }

    fn launch(options: &[String], nodes: &[(&str, &str)]) -> OpcUaServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/opcua_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(options)
            .args(nodes.iter().map(|(n, v)| format!("{n}={v}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the asyncua server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(rest) = line.trim().strip_prefix("listening ") else {
            panic!(
                "the asyncua server did not start: {line:?} {:?}",
                child.wait()
            );
        };
        let (endpoint, ns) = rest.split_once(' ').expect("endpoint and namespace index");
        OpcUaServer {
            endpoint: endpoint.to_string(),
            ns: ns.parse().unwrap(),
            io: Mutex::new((stdin, stdout)),
            child,
        }
    }

    /// Sends one command line and returns the server's one-line answer. Blocking, and quick.
    pub fn command(&self, line: &str) -> String {
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "{line}").unwrap();
        io.0.flush().unwrap();
        let mut answer = String::new();
        io.1.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    }

    /// Writes a node's value (as [`OpcUaServer::start`] reads it).
    pub fn set(&self, node: &str, value: &str) {
        assert_eq!(self.command(&format!("set {node} {value}")), "ok");
    }

    /// Client sessions on the server: (open now, ever seen, most open at once).
    pub fn sessions(&self) -> (u64, u64, u64) {
        let a = self.command("sessions");
        let n: Vec<u64> = a
            .strip_prefix("sessions ")
            .unwrap_or_else(|| panic!("{a}"))
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        (n[0], n[1], n[2])
    }

    /// Makes every Read of a client wait `s` seconds (0: none).
    pub fn stall_reads(&self, s: f64) {
        assert_eq!(self.command(&format!("stall-reads {s}")), "ok");
    }
}

impl Drop for OpcUaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

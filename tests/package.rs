//! The Debian package as a user gets it: built with cargo-deb from this workspace's metadata
//! (`[package.metadata.deb]` of agent/Cargo.toml), unpacked with `dpkg-deb -x` into a temporary
//! root, and its binary run with its own configuration against the simulator. The configuration
//! is rewritten in two ways only: its installed paths moved under the temporary root, and its two
//! device addresses pointed at the simulator's free ports (a fixed port may be taken by a
//! simulator someone is running). Nothing the installed agent reads may be in the source tree.
//!
//! To stay cheap on CI (2 cores), the package is made with `cargo deb --no-build` around the
//! agent binary this test crate already built (`agent-e2e`: the agent's command line with the
//! features the workspace's tests enable), never with a release build of its own; the release
//! package differs only in being built without the `demo` feature. cargo-deb is installed by
//! ./tests/run when missing; this test fails saying so when it is not there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{get, get_json, temp_dir, wait_until, AgentProcess};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds the package around `binary` and returns the .deb.
fn build_package(dir: &Path, binary: &Path) -> PathBuf {
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is missing: `cargo install cargo-deb --locked` (./tests/run installs it)"
    );
    // cargo-deb takes the binary from `<target dir>/release/agent`: a target directory of the
    // test's own, holding the binary already built.
    let target = dir.join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(binary, target.join("release/agent")).unwrap();
    let deb = dir.join("green-agent.deb");
    run(Command::new("cargo")
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        // The system's gzip at its fastest: cargo-deb's own compressors take minutes for an
        // unstripped debug binary.
        .args(["deb", "-p", "agent", "--no-build", "--no-strip"])
        .args(["--fast", "--compress-system", "-Z", "gz", "--output"])
        .arg(&deb));
    deb
}

/// The installed configuration with every installed path moved under `root` and the devices
/// pointed at the simulator.
fn rewrite_to_root(root: &Path, sim: &simulator::Simulator) -> PathBuf {
    let file = root.join("etc/green-agent/agent.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let r = root.to_str().unwrap();
    let moved = text
        .replace(
            "\"/var/lib/green-agent/",
            &format!("\"{r}/var/lib/green-agent/"),
        )
        .replace(
            "\"/usr/share/green-agent/",
            &format!("\"{r}/usr/share/green-agent/"),
        )
        .replace(
            "\"opc.tcp://127.0.0.1:4840/\"",
            &format!("\"{}\"", sim.opcua_endpoint()),
        )
        .replace("\"127.0.0.1:5020\"", &format!("\"{}\"", sim.modbus_addr()));
    // Every path the configuration names is now under the root: none is relative (it would
    // depend on the working directory) and none points into the source tree.
    let ws = workspace().canonicalize().unwrap();
    for line in moved.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!line.contains("../"), "a relative path: {line}");
        assert!(
            !line.contains(ws.to_str().unwrap()),
            "a path into the source tree: {line}"
        );
        if line.contains("\"/") && !line.contains("opc.tcp://") {
            assert!(line.contains(r), "an installed path not moved: {line}");
        }
    }
    std::fs::write(&file, moved).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_package_runs_from_its_own_paths() {
    let dir = temp_dir("package");
    let deb = build_package(&dir, Path::new(env!("CARGO_BIN_EXE_agent-e2e")));

    // What dpkg would install, and what it treats as configuration.
    let root = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let control = dir.join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/green-agent/agent.toml");
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    for needed in [
        "addgroup --system \"$g\"",
        "adduser --system",
        "adduser green-agent gpio",
        "adduser green-agent dialout",
        "/var/lib/green-agent",
    ] {
        assert!(postinst.contains(needed), "postinst lacks `{needed}`");
    }
    for f in [
        "usr/bin/agent",
        "usr/share/green-agent/standards/gbt31210-near-dry.toml",
        "usr/share/green-agent/standards/gbt28614-dry.toml",
        "usr/share/green-agent/models/nasa-milling.json",
        "usr/lib/systemd/system/green-agent.service",
    ] {
        assert!(root.join(f).is_file(), "the package lacks /{f}");
    }

    // The unit passes systemd's own check (with ExecStart pointing at the unpacked binary).
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/green-agent.service"))
        .unwrap()
        .replace(
            "/usr/bin/agent",
            root.join("usr/bin/agent").to_str().unwrap(),
        );
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let check = dir.join("unit");
        std::fs::create_dir_all(&check).unwrap();
        std::fs::write(check.join("green-agent.service"), unit).unwrap();
        let out = run(Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(check.join("green-agent.service")));
        // verify only warns about unknown keys and bad values: any word from it is a failure.
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");
    } else {
        panic!("systemd-analyze is missing: apt-get install systemd (./tests/run installs it)");
    }

    // The simulated machine the installed configuration describes, on free ports.
    let sim = simulator::Simulator::start(e2e::scenario("normal-near-dry.toml", 1.0))
        .await
        .unwrap();

    // The installed binary, its configuration moved to the root, its state directory as the
    // working directory (as the unit has it), and a notify socket standing in for systemd.
    let config = rewrite_to_root(&root, &sim);
    let state = root.join("var/lib/green-agent");
    std::fs::create_dir_all(&state).unwrap();
    let mut notified = e2e::notify_socket(&dir.join("notify"));
    let mut cmd = Command::new(root.join("usr/bin/agent"));
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(&state)
        // Its log into a file, as into the journal: not a terminal.
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .env("RUST_LOG", "info")
        .env("NOTIFY_SOCKET", dir.join("notify"))
        .env("WATCHDOG_USEC", "3000000");
    let agent = AgentProcess::spawn(cmd).await;

    // Every signal good over HTTP.
    let signals = wait_until(
        Duration::from_secs(60),
        "every signal good from the installed agent",
        || async {
            let s = get_json(&agent.http, "/api/signals").await.ok()?;
            let all = s.as_array()?;
            (!all.is_empty() && all.iter().all(|x| x["quality"] == "good")).then_some(all.len())
        },
    )
    .await
    .unwrap();
    assert!(signals > 40, "{signals} signals");

    // Its state where the package keeps it, its model from where the package put it.
    assert!(state.join("agent.db").is_file(), "no store in {state:?}");
    let life = get_json(&agent.http, "/api/life").await.unwrap();
    let model = life["model"]["file"].as_str().unwrap().to_string();
    assert!(
        model.starts_with(root.join("usr/share/green-agent/models").to_str().unwrap()),
        "{model}"
    );
    let (code, health) = get(&agent.http, "/healthz").await.unwrap();
    assert_eq!(code, 200, "{health}");

    // systemd hears READY once it serves, then the watchdog's keep-alives.
    let mut ready = false;
    let mut keep_alives = 0;
    wait_until(
        Duration::from_secs(30),
        "READY=1 and two WATCHDOG=1 on the notify socket",
        || {
            while let Ok(m) = notified.try_recv() {
                ready |= m.lines().any(|l| l == "READY=1");
                keep_alives += m.lines().filter(|l| *l == "WATCHDOG=1").count();
            }
            let done = ready && keep_alives >= 2;
            async move { done.then_some(()) }
        },
    )
    .await
    .unwrap();

    // Plain lines for the journal: no colour codes when standard error is not a terminal.
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in the log: {log:?}");

    drop(agent);
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The installed configuration is the example (`configs/agent.toml`, what the demo and the
/// tests run) with only its header and its paths changed, so a fix to the example cannot be
/// forgotten in the package. To bring it up to date: keep its header, paste the example's body
/// and apply the three replacements below.
#[test]
fn the_package_configuration_is_the_example_with_installed_paths() {
    fn body(text: &str) -> Vec<&str> {
        text.lines().skip_while(|l| l.starts_with('#')).collect()
    }
    let read = |p: &str| std::fs::read_to_string(workspace().join(p)).unwrap();
    let example = read("configs/agent.toml")
        .replace("\"data/", "\"/var/lib/green-agent/")
        .replace("\"standards/", "\"/usr/share/green-agent/standards/")
        .replace("\"../models/trained/", "\"/usr/share/green-agent/models/");
    let package = read("configs/package/agent.toml");
    let (want, got) = (body(&example), body(&package));
    for (n, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            w,
            g,
            "configs/package/agent.toml differs from configs/agent.toml (body line {})",
            n + 1
        );
    }
    assert_eq!(
        want.len(),
        got.len(),
        "configs/package/agent.toml: line count"
    );
}

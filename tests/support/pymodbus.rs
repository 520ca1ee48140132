//! An MQL unit as a third-party Modbus TCP server: python pymodbus (`modbus_server.py` beside
//! this file), installed with asyncua by `asyncua::python`. The agent's Modbus client and
//! `agent probe modbus` are tested against another implementation's framing and addressing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

/// A running pymodbus server with one unit (id 1), ended when dropped.
pub struct ModbusServer {
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl ModbusServer {
    pub fn start() -> ModbusServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/modbus_server.py");
        let mut child = Command::new(super::asyncua::python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the pymodbus server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(address) = line.trim().strip_prefix("listening ") else {
            panic!(
                "the pymodbus server did not start: {line:?} {:?}",
                child.wait()
            );
        };
        ModbusServer {
            address: address.to_string(),
            io: Mutex::new((stdin, stdout)),
            child,
        }
    }

    /// From now on holding registers `0..n` count up every `ms` (register r holds k + r in
    /// the k-th period).
    pub fn walk(&self, n: u16, ms: u64) {
        self.command(&format!("walk {n} {ms}"));
    }

    fn command(&self, line: &str) {
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "{line}").unwrap();
        io.0.flush().unwrap();
        let mut answer = String::new();
        io.1.read_line(&mut answer).unwrap();
        assert_eq!(answer.trim(), "ok", "pymodbus: {answer}");
    }

    /// Writes a value into the unit's `table` (`holding` or `input`) at `address` as `kind`
    /// (`u16`, `f32` ABCD or `f32cdab`).
    pub fn set(&self, table: &str, address: u16, kind: &str, value: f64) {
        self.command(&format!("set {table} {address} {kind} {value}"));
    }
}

impl Drop for ModbusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

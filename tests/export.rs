//! Exports end to end: a store written by the agent during a simulator run, exported by the
//! `agent export` command (the agent's binary as a child process) and by `GET /api/export`,
//! read back with polars and checked against the store's rows; and a million-row export whose
//! peak memory is measured from outside (the child's `ru_maxrss`).

#[path = "export_store.rs"]
mod export_store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agent::Agent;
use e2e::{temp_dir, wait_until};
use polars::prelude::*;
use rusqlite::Connection;
use serde_json::Value as Json;
use simulator::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "export-test-token-0123456789";

fn agent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_agent-e2e")
}

fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml")
}

/// Runs `agent export ...` in `cwd`; exit code and standard error.
fn cli(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(agent_bin())
        .current_dir(cwd)
        .arg("export")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A GET over a real socket, the body as bytes (Parquet is binary); status, head, body.
async fn get_bytes(addr: &str, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .expect("the download finishes")
        .unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = buf[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (code, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn read_csv(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .unwrap()
        .finish()
        .unwrap()
}

fn utc_ms() -> DataType {
    DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
}

/// ms since the epoch as the CSV writes it: `2025-03-01T06:00:00.000Z`.
fn iso(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn f64s(df: &DataFrame, col: &str) -> Vec<Option<f64>> {
    df.column(col).unwrap().f64().unwrap().iter().collect()
}

fn i64s(df: &DataFrame, col: &str) -> Vec<Option<i64>> {
    df.column(col).unwrap().i64().unwrap().iter().collect()
}

fn strs(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    df.column(col)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn bools(df: &DataFrame, col: &str) -> Vec<Option<bool>> {
    df.column(col).unwrap().bool().unwrap().iter().collect()
}

/// Milliseconds of a Datetime column.
fn times(df: &DataFrame, col: &str) -> Vec<Option<i64>> {
    let c = df.column(col).unwrap();
    assert_eq!(c.dtype(), &utc_ms(), "{col}");
    c.datetime().unwrap().physical().iter().collect()
}

/// Whether the newest stored sample of every signal says it is unavailable (no value).
fn last_word_stored(store: &Path) -> bool {
    let Ok(db) = Connection::open(store) else {
        return false;
    };
    db.query_row(
        "SELECT count(*) FROM signal g WHERE (SELECT s.num IS NOT NULL OR s.txt IS NOT NULL
             FROM sample s WHERE s.signal_id = g.id ORDER BY s.ts_ms DESC LIMIT 1)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 0)
}

/// A row of a frame as text, for comparing frames row by row.
fn rows_where(df: &DataFrame, col: &str, equals: &str) -> Vec<String> {
    let keep = strs(df, col);
    (0..df.height())
        .filter(|&i| keep[i].as_deref() == Some(equals))
        .map(|i| format!("{:?}", df.get_row(i).unwrap().0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_of_a_simulator_run_read_back_with_polars_and_match_the_store() {
    let sc = e2e::scenario("normal-near-dry.toml", 20.0);
    let sim = Simulator::start(sc).await.unwrap();
    // The command line reads the repository's configuration, whose store is `data/agent.db`
    // relative to the working directory: the child runs in `dir`.
    let dir = temp_dir("export");
    let store = dir.join("data/agent.db");
    // The same file the command line reads (not the demo's built-in copy), so that both name
    // the same wear model file.
    let mut cfg = agent::config::load(&repo_config()).unwrap();
    // The example commits samples every 15 s (the SD card's sake); the test reads them back.
    cfg.store.flush_interval = Duration::from_secs(1);
    // Every change stored (the example's deadbands keep small changes off the SD card): a long
    // signals export to check row by row.
    for tag in cfg.devices.iter_mut().flat_map(|d| d.tags.iter_mut()) {
        tag.deadband = 0.0;
    }
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.store.path = store.clone();
    cfg.http.token = Some(TOKEN.into());
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();

    // A few cuts with predictions, then a tool change: an ended tool life with its label.
    wait_until(
        Duration::from_secs(90),
        "six operations and two tools with predictions",
        || async {
            let l = e2e::get_json(&http, "/api/life").await.ok()?;
            let ops = e2e::get_json(&http, &format!("/api/operations?{}", e2e::from_a_day_ago()))
                .await
                .ok()?;
            let tools = l["tools"].as_array()?;
            (ops.as_array()?.len() >= 6
                && tools.len() >= 2
                && tools.iter().all(|t| t["prediction"].is_object()))
            .then_some(())
        },
    )
    .await
    .unwrap();
    let life = e2e::get_json(&http, "/api/life").await.unwrap();
    let changed = life["tools"][0]["tool_id"].as_str().unwrap().to_string();
    let auth = format!("Bearer {TOKEN}");
    let r = e2e::request(
        &http,
        "POST",
        &format!("/api/tools/{changed}/change"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"reason": "worn_out", "measured_vb_mm": 0.31}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    // The machine stops, so the store holds still: once the agent has seen every device go,
    // the last operation has ended and the store holds every signal's last word (unavailable),
    // nothing more comes (until the heartbeat, a minute on), and the history before `to` is
    // complete.
    sim.shutdown().await;
    wait_until(
        Duration::from_secs(30),
        "the devices gone, no operation under way, and every signal stored as unavailable",
        || async {
            let d = e2e::get_json(&http, "/api/devices").await.ok()?;
            let gone = d.as_array()?.iter().all(|d| d["connected"] == false);
            let c = e2e::get_json(&http, "/api/compliance").await.ok()?;
            let ended = c["cutting"] == false && c["operation"].is_null();
            (gone && ended && last_word_stored(&store)).then_some(())
        },
    )
    .await
    .unwrap();
    let to_ms = agent::value::now_ms();
    let to = iso(to_ms);
    let from = "2020-01-01";
    let from_ms = 1_577_836_800_000i64; // 2020-01-01T00:00:00Z

    // Over HTTP: the token is needed even though reading is open, bad fields are named.
    let q = |what: &str, format: &str| {
        format!("/api/export?what={what}&format={format}&from_ms={from_ms}&to_ms={to_ms}")
    };
    let (code, _, _) = get_bytes(&http, &q("signals", "csv"), None).await;
    assert_eq!(code, 401, "an export without the token");
    let (code, _, _) = get_bytes(&http, &q("signals", "csv"), Some("wrong")).await;
    assert_eq!(code, 401, "an export with a wrong token");
    for (query, field) in [
        ("what=everything", "what"),
        ("what=signals&format=xlsx", "format"),
        ("what=signals&from_ms=yesterday", "from_ms"),
        ("what=signals&to_ms=2020-13-45", "to_ms"),
        (
            "what=signals&from_ms=1893456000000&to_ms=1577836800000",
            "from_ms",
        ),
        ("format=csv", "what"),
        ("what=signals&form=2020-01-01", "form"),
    ] {
        let (code, _, body) = get_bytes(&http, &format!("/api/export?{query}"), Some(TOKEN)).await;
        let v: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        assert_eq!(
            (code, v["field"].as_str()),
            (400, Some(field)),
            "{query}: {v}"
        );
    }
    let mut files = BTreeMap::new();
    for what in ["residual-life", "operations", "signals"] {
        for format in ["csv", "parquet"] {
            let (code, head, body) = get_bytes(&http, &q(what, format), Some(TOKEN)).await;
            assert_eq!(
                code,
                200,
                "{what} {format}: {}",
                String::from_utf8_lossy(&body)
            );
            let ct = if format == "csv" {
                "text/csv; charset=utf-8"
            } else {
                "application/vnd.apache.parquet"
            };
            assert!(head.contains(&format!("content-type: {ct}")), "{head}");
            assert!(
                head.contains(&format!(
                    "content-disposition: attachment; filename=\"vmc-01_{what}_20200101t000000z_"
                )) && head.contains(&format!(".{format}\"")),
                "{head}"
            );
            let http_file = dir.join(format!("http-{what}.{format}"));
            std::fs::write(&http_file, &body).unwrap();
            // The same export from the command line, while the agent runs beside it.
            let cli_file = dir.join(format!("cli-{what}.{format}"));
            let config = repo_config();
            let (code, err) = cli(
                &dir,
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "--what",
                    what,
                    "--from",
                    from,
                    "--to",
                    &to,
                    "--format",
                    format,
                    "--out",
                    cli_file.to_str().unwrap(),
                ],
            );
            assert_eq!(code, 0, "{err}");
            files.insert((what, format), (cli_file, http_file));
        }
    }
    agent.shutdown().await;

    let db = Connection::open(&store).unwrap();

    // signals: every stored sample before `to`, in time order, values and units as stored.
    let (cli_pq, http_pq) = &files[&("signals", "parquet")];
    let (cli_csv, http_csv) = &files[&("signals", "csv")];
    assert_eq!(
        std::fs::read(cli_pq).unwrap(),
        std::fs::read(http_pq).unwrap(),
        "CLI and HTTP: same file"
    );
    assert_eq!(
        std::fs::read(cli_csv).unwrap(),
        std::fs::read(http_csv).unwrap(),
        "CLI and HTTP: same file"
    );
    let pq = read_parquet(cli_pq);
    let mut stmt = db
        .prepare(
            "SELECT s.ts_ms, g.name, g.unit, g.device, s.num, s.txt FROM sample s JOIN signal g ON g.id = s.signal_id
             WHERE s.ts_ms < ?1 ORDER BY s.ts_ms, g.name",
        )
        .unwrap();
    #[allow(clippy::type_complexity)]
    let want: Vec<(i64, String, String, String, Option<f64>, Option<String>)> = stmt
        .query_map([to_ms], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(want.len() > 1000, "a real history: {} samples", want.len());
    assert_eq!(pq.height(), want.len());
    assert_eq!(pq.column("value").unwrap().dtype(), &DataType::Float64);
    assert_eq!(pq.column("available").unwrap().dtype(), &DataType::Boolean);
    let (ts, name, unit, device, value, text, avail) = (
        times(&pq, "ts_utc"),
        strs(&pq, "signal"),
        strs(&pq, "unit"),
        strs(&pq, "device"),
        f64s(&pq, "value"),
        strs(&pq, "text"),
        bools(&pq, "available"),
    );
    for (i, w) in want.iter().enumerate() {
        assert_eq!(ts[i], Some(w.0), "row {i}");
        assert_eq!(name[i].as_deref(), Some(w.1.as_str()), "row {i}");
        assert_eq!(unit[i].as_deref(), Some(w.2.as_str()), "row {i}");
        assert_eq!(device[i].as_deref(), Some(w.3.as_str()), "row {i}");
        assert_eq!(value[i], w.4, "row {i}");
        assert_eq!(text[i], w.5, "row {i}");
        assert_eq!(avail[i], Some(w.4.is_some() || w.5.is_some()), "row {i}");
    }
    assert!(
        text.iter().any(Option::is_some),
        "text signals (program, tool) are exported"
    );
    let csv = read_csv(cli_csv);
    assert_eq!(
        csv.get_column_names(),
        pq.get_column_names(),
        "one header row, BOM skipped"
    );
    assert_eq!(f64s(&csv, "value"), value, "numbers survive CSV exactly");
    let csv_ts = strs(&csv, "ts_utc");
    for i in [0, want.len() / 2, want.len() - 1] {
        assert_eq!(
            csv_ts[i].as_deref(),
            Some(iso(want[i].0).as_str()),
            "ISO 8601 in UTC"
        );
    }
    let raw = std::fs::read(cli_csv).unwrap();
    assert!(
        raw.starts_with(b"\xef\xbb\xbfts_utc,machine_id,device,signal,unit,value,text,available\n")
    );

    // operations: every operation that ended before `to`, key figures as stored.
    let (cli_pq, http_pq) = &files[&("operations", "parquet")];
    assert_eq!(
        std::fs::read(cli_pq).unwrap(),
        std::fs::read(http_pq).unwrap()
    );
    let pq = read_parquet(cli_pq);
    let stored: Vec<(i64, Json)> = db
        .prepare("SELECT id, record FROM operation WHERE end_ms < ?1 ORDER BY end_ms, id")
        .unwrap()
        .query_map([to_ms], |r| {
            Ok((
                r.get(0)?,
                serde_json::from_str(&r.get::<_, String>(1)?).unwrap(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(stored.len() >= 6);
    assert_eq!(pq.height(), stored.len());
    let (ids, start, energy, oil, verdict, program) = (
        i64s(&pq, "operation_id"),
        times(&pq, "start_utc"),
        f64s(&pq, "energy_kwh"),
        f64s(&pq, "oil_ml"),
        strs(&pq, "verdict"),
        strs(&pq, "program"),
    );
    for (i, (id, rec)) in stored.iter().enumerate() {
        assert_eq!(ids[i], Some(*id));
        assert_eq!(start[i], rec["start_ms"].as_i64());
        assert_eq!(energy[i], rec["energy_kwh"].as_f64());
        assert_eq!(oil[i], rec["oil_ml"].as_f64());
        assert_eq!(verdict[i].as_deref(), rec["verdict"].as_str());
        assert_eq!(program[i].as_deref(), rec["program"].as_str());
    }
    let csv = read_csv(&files[&("operations", "csv")].0);
    for col in [
        "duration_s",
        "energy_kwh",
        "oil_ml_per_h",
        "spindle_load_mean_pct",
        "speed_mean_rpm",
        "tool_diameter_mm",
    ] {
        assert_eq!(
            csv.column(col).unwrap().dtype(),
            &DataType::Float64,
            "{col}: unit in the name, a number"
        );
    }
    assert_eq!(f64s(&csv, "energy_kwh"), energy);

    // residual-life: the components as /api/life assesses them, the ended tool life with its
    // label, and every tool in service with its last prediction.
    let pq = read_parquet(&files[&("residual-life", "parquet")].0);
    let http_pq = read_parquet(&files[&("residual-life", "parquet")].1);
    assert_eq!(
        rows_where(&pq, "item_kind", "tool"),
        rows_where(&http_pq, "item_kind", "tool"),
        "CLI and HTTP: same tool rows"
    );
    assert_eq!(strs(&pq, "item_id"), strs(&http_pq, "item_id"));
    for (col, dtype) in [
        ("remaining_p50_h", DataType::Float64),
        ("remaining_cuts_p10", DataType::Float64),
        ("cuts", DataType::Int64),
        ("censored", DataType::Boolean),
        ("life_start_utc", utc_ms()),
        ("evidence_json", DataType::String),
    ] {
        assert_eq!(pq.column(col).unwrap().dtype(), &dtype, "{col}");
    }
    let item = strs(&pq, "item_id");
    let record = strs(&pq, "life_record");
    let at = |id: &str, rec: &str| {
        (0..pq.height())
            .find(|&i| item[i].as_deref() == Some(id) && record[i].as_deref() == Some(rec))
            .unwrap_or_else(|| panic!("no {rec} row for {id}"))
    };
    let pump = at("mql-pump", "in_service");
    let strokes: f64 = db
        .query_row(
            "SELECT s.num FROM sample s JOIN signal g ON g.id = s.signal_id WHERE g.name = 'mql.pump_strokes'
             AND s.num IS NOT NULL ORDER BY s.ts_ms DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(f64s(&pq, "life_used")[pump], Some(strokes));
    assert_eq!(f64s(&pq, "cycles")[pump], Some(strokes));
    assert_eq!(f64s(&pq, "life_rated")[pump], Some(50_000_000.0));
    assert_eq!(strs(&pq, "life_unit")[pump].as_deref(), Some("strokes"));
    let bearing = at("spindle-bearing", "in_service");
    assert_eq!(strs(&pq, "life_unit")[bearing].as_deref(), Some("h"));
    assert!(strs(&pq, "method")[bearing]
        .as_deref()
        .unwrap()
        .contains("BearingMonitor"));
    let total_cuts = stored.len() as i64;
    assert_eq!(
        i64s(&pq, "cuts")[bearing],
        Some(total_cuts),
        "every cut is the spindle's"
    );

    let (counters, reason, censored, vb): (String, String, bool, Option<f64>) = db
        .query_row(
            "SELECT counters, reason, censored, measured_vb_mm FROM tool_change WHERE tool_id = ?1",
            [&changed],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let counters: Json = serde_json::from_str(&counters).unwrap();
    let ended = at(&changed, "ended");
    assert_eq!(
        strs(&pq, "change_reason")[ended].as_deref(),
        Some(reason.as_str())
    );
    assert_eq!(bools(&pq, "censored")[ended], Some(censored));
    assert_eq!(
        bools(&pq, "censored")[ended],
        Some(false),
        "worn out: the end was observed"
    );
    assert_eq!(f64s(&pq, "measured_vb_mm")[ended], vb);
    assert_eq!(i64s(&pq, "cuts")[ended], counters["cuts"].as_i64());
    assert_eq!(
        f64s(&pq, "cutting_min")[ended],
        counters["cutting_min"].as_f64()
    );
    assert!(times(&pq, "life_end_utc")[ended].is_some());

    let usage: Vec<(String, Json, Json)> = db
        .prepare("SELECT tool_id, counters, prediction FROM tool_usage")
        .unwrap()
        .query_map([], |r| {
            let j = |s: Option<String>| s.map_or(Json::Null, |s| serde_json::from_str(&s).unwrap());
            Ok((r.get(0)?, j(r.get(1)?), j(r.get(2)?)))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!usage.is_empty());
    let close =
        |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0));
    for (tool, c, p) in &usage {
        let i = at(tool, "in_service");
        assert_eq!(
            bools(&pq, "censored")[i],
            Some(true),
            "in service: not observed to its end"
        );
        assert_eq!(i64s(&pq, "parts")[i], c["parts"].as_i64());
        assert_eq!(
            f64s(&pq, "cutting_distance_mm")[i],
            c["distance_mm"].as_f64()
        );
        if p.is_object() {
            let rem = &p["remaining_min"];
            assert!(
                close(
                    f64s(&pq, "remaining_p50_h")[i],
                    rem["p50"].as_f64().unwrap() / 60.0
                ),
                "{tool}"
            );
            assert!(
                close(
                    f64s(&pq, "remaining_p10_h")[i],
                    rem["p10"].as_f64().unwrap() / 60.0
                ),
                "{tool}"
            );
            assert_eq!(
                f64s(&pq, "remaining_cuts_p90")[i],
                p["remaining_cuts"]["p90"].as_f64()
            );
            assert_eq!(f64s(&pq, "vb_p50_mm")[i], p["vb"]["p50"].as_f64());
            let params: Json =
                serde_json::from_str(strs(&pq, "model_params_json")[i].as_deref().unwrap())
                    .unwrap();
            assert_eq!(params["dataset"], "nasa-milling", "{params}");
            assert!(strs(&pq, "model_file")[i]
                .as_deref()
                .unwrap()
                .ends_with("nasa-milling.json"));
            let evidence: Json =
                serde_json::from_str(strs(&pq, "evidence_json")[i].as_deref().unwrap()).unwrap();
            assert_eq!(&evidence, p, "the last prediction is the evidence");
        }
    }
    let csv = read_csv(&files[&("residual-life", "csv")].0);
    assert_eq!(csv.get_column_names(), pq.get_column_names());
    assert_eq!(
        csv.column("remaining_p50_h").unwrap().dtype(),
        &DataType::Float64
    );
    assert_eq!(f64s(&csv, "remaining_p50_h"), f64s(&pq, "remaining_p50_h"));
    assert_eq!(csv.column("censored").unwrap().dtype(), &DataType::Boolean);
}

#[test]
fn bad_command_lines_are_named_and_leave_no_file() {
    let dir = temp_dir("export-args");
    let config = repo_config();
    let out = dir.join("out.csv");
    let base = |what: &'static str, from: &'static str| {
        vec![
            "--config".to_string(),
            config.display().to_string(),
            "--what".into(),
            what.into(),
            "--from".into(),
            from.into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&dir, &args)
    };
    let (code, err) = run(base("everything", "2025-01-01"));
    assert_eq!(code, 2);
    assert!(
        err.contains("--what") && err.contains("residual-life"),
        "{err}"
    );
    let (code, err) = run(base("signals", "1st of May"));
    assert_eq!(code, 2);
    assert!(err.contains("--from") && err.contains("RFC 3339"), "{err}");
    let mut a = base("signals", "2025-03-02");
    a.extend(["--to".into(), "2025-03-01".into()]);
    let (code, err) = run(a);
    assert_eq!(code, 2);
    assert!(err.contains("--from") && err.contains("before"), "{err}");
    let mut a = base("signals", "2025-01-01");
    a.extend(["--format".into(), "xlsx".into()]);
    let (code, err) = run(a);
    assert!(code == 2 && err.contains("--format"), "{err}");
    // The configuration's store (`data/agent.db` in this empty directory) does not exist.
    let (code, err) = run(base("signals", "2025-01-01"));
    assert_eq!(code, 2);
    assert!(
        err.contains("store file") && err.contains("data/agent.db"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

/// Peak resident memory (MiB) and wall time of `agent export --what signals`, measured with
/// `wait4` (`ru_maxrss`) by the export benchmark's `--measure` mode: from a small fresh
/// process, because a child's `ru_maxrss` includes the high-water mark of the process that
/// spawned it, and this test process holds a million rows it read back (and runs the other
/// tests' agents in its threads).
pub fn export_peak_mib(config: &Path, format: &str, out: &Path) -> (f64, Duration) {
    let o = Command::new(env!("CARGO_BIN_EXE_export-bench"))
        .args([
            "--measure",
            "export",
            "--config",
            config.to_str().unwrap(),
            "--what",
            "signals",
        ])
        .args(["--format", format, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    let (kib, secs) = (f.next().unwrap(), f.next().unwrap());
    (kib / 1024.0, Duration::from_secs_f64(secs))
}

#[test]
fn a_million_signal_rows_export_in_bounded_memory() {
    let small = temp_dir("export-250k");
    let large = temp_dir("export-1m");
    let small_cfg = export_store::build(&small, 250_000);
    let large_cfg = export_store::build(&large, 1_000_000);
    for format in ["parquet", "csv"] {
        let (small_mib, _) =
            export_peak_mib(&small_cfg, format, &small.join(format!("s.{format}")));
        let out = large.join(format!("s.{format}"));
        let (large_mib, took) = export_peak_mib(&large_cfg, format, &out);
        eprintln!("{format}: peak {small_mib:.1} MiB at 250k rows, {large_mib:.1} MiB at 1M rows ({took:?})");
        // Four times the rows may not cost more memory: one chunk is in memory at a time. The
        // margin covers allocator noise and polars' thread pool warming up differently.
        assert!(
            large_mib <= small_mib * 1.15 + 8.0,
            "{format}: {large_mib:.1} MiB at 1M rows against {small_mib:.1} MiB at 250k"
        );
        // Ceiling: the debug binary exporting 40 rows peaks at ~37 MiB (code, SQLite, polars'
        // thread pool); one chunk of 50,000 rows as Rust values and as a DataFrame adds
        // ~25 MiB. The whole million in memory would add ~200 MiB (four strings per row).
        assert!(large_mib < 100.0, "{format}: {large_mib:.1} MiB");
        // Everything arrived: read back with polars.
        let df = if format == "parquet" {
            read_parquet(&out)
        } else {
            read_csv(&out)
        };
        assert_eq!(df.height(), 1_000_000);
        // Rows are in time order, signals by name within a time: row j is sample k = j / 4 of
        // the signal at j % 4 in name order.
        let mut by_name: Vec<(usize, &str)> =
            export_store::SIGNALS.iter().copied().enumerate().collect();
        by_name.sort_by_key(|s| s.1);
        let (names, values) = (strs(&df, "signal"), f64s(&df, "value"));
        for j in [0usize, 1, 3999, 4000, 999_998, 999_999, 123_457] {
            let (s, name) = by_name[j % 4];
            let i = (j / 4) * 4 + s;
            assert_eq!(names[j].as_deref(), Some(name), "row {j}");
            assert_eq!(values[j], export_store::value(i), "row {j}");
        }
        let avail = bools(&df, "available");
        assert_eq!(avail.iter().filter(|a| **a == Some(false)).count(), 1000);
    }
}

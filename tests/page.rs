//! The pages as the people at the machine use them, in a real Chromium with Chinese fonts,
//! against the agent on the simulator (accelerated): the page in Chinese carries no English
//! label, its charts draw data, it updates from the live stream without polling, a tool change
//! recorded on it reaches `/api/life`, and an export downloaded from it opens in polars. The
//! carbon figures are checked against the simulator's parts through the API.

use std::path::PathBuf;
use std::time::Duration;

use agent::Agent;
use e2e::{chromium, get_json, temp_dir, wait_until};
use polars::prelude::SerReader;
use serde_json::{json, Value as Json};

const TOKEN: &str = "test-token-0123456789";

/// The agent on the simulator's normal near-dry scenario at `time_scale`.
/// Fills the tool-change form (`fill`: JavaScript over `f`, the form), clicks `button` and waits
/// for the status line to say saved; then clears it, for the next action to be told apart.
async fn record_from_form(cdp: &chromium::Cdp, fill: &str, button: &str, what: &str) {
    cdp.eval(&format!(
        "(() => {{ const f = document.getElementById('change-form'); {fill}; {button}.click(); \
         return true; }})()"
    ))
    .await
    .unwrap();
    cdp.wait_eval(
        "document.getElementById('change-status').classList.contains('saved')",
        Duration::from_secs(15),
    )
    .await
    .unwrap_or_else(|e| panic!("{what} was not recorded: {e:#}"));
    cdp.eval("document.getElementById('change-status').className = 'status'")
        .await
        .unwrap();
}

async fn agent_on_simulator(
    tag: &str,
    time_scale: f64,
    edit: impl FnOnce(&mut agent::config::Config),
) -> (simulator::Simulator, Agent) {
    let sim = simulator::Simulator::start(e2e::scenario("normal-near-dry.toml", time_scale))
        .await
        .unwrap();
    let mut cfg = agent::demo::simulator_config();
    cfg.store.flush_interval = Duration::from_secs(1);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.store.path = temp_dir(tag).join("agent.db");
    cfg.http.token = Some(TOKEN.into());
    edit(&mut cfg);
    let agent = Agent::start(cfg).await.unwrap();
    (sim, agent)
}

/// Words of English letters in the page's visible labels: every text node shown, except
/// what is data (values from the machine and identifiers: `.val`, `.v`), the agent's own
/// messages (`.msg`, checked apart: Chinese where the agent has the text), and the switch to
/// the other language (which names it in that language). Units and technical symbols stay as
/// they are written in Chinese documents too.
const ENGLISH_LABELS: &str = r#"(() => {
  const allowed = /(r\/min|kWh|kW|MPa|mg\/m³|mm\/min|mm\/s|ml\/h|mm|min|ml|kg|CO₂e|kgCO2|CO2|VB|P10|P50|P90|CSV|Parquet|ISO|HRC|°C|GB\/T)/g;
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const n = walk.currentNode, el = n.parentElement;
    if (!el || el.closest(".val, .v, .msg, [data-lang-switch], script, style, [hidden]")) continue;
    if (el.getClientRects().length === 0) continue;
    const words = n.textContent.replace(allowed, "").match(/[A-Za-z]{2,}/g);
    if (words) found.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll("option, button, input[placeholder]"))
    if (!el.closest("[hidden], [data-lang-switch]") && el.getClientRects().length &&
        /[A-Za-z]{2,}/.test((el.textContent || "").replace(allowed, "")) && !["csv", "parquet"].includes(el.value))
      found.push(el.outerHTML);
  return found;
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_chinese_shows_no_english_label_draws_its_charts_and_lives_on_the_stream() {
    // Without a font with Chinese glyphs Chromium draws boxes: the screenshots would show
    // nothing a machinist could read.
    let fonts = std::process::Command::new("fc-list")
        .arg(":lang=zh")
        .output();
    assert!(
        matches!(&fonts, Ok(o) if !o.stdout.is_empty()),
        "no font with Chinese glyphs: apt-get install fonts-noto-cjk (./tests/run installs it)"
    );
    // Process monitoring on: the load chart draws the operation's learned band.
    let (_sim, agent) = agent_on_simulator("page-zh", 60.0, |cfg| {
        cfg.monitor = agent::config::monitor::MonitorSettings {
            enabled: true,
            ..Default::default()
        };
        // The spindle sensor where nobody answers: its alarm is on the page from the start,
        // in the agent's own words.
        for d in &mut cfg.devices {
            if let agent::config::Connection::ModbusTcp { address, .. } = &mut d.connection {
                if d.name == "spindle-sensor" {
                    *address = e2e::dead_addr().to_string();
                }
            }
        }
    })
    .await;
    let http = agent.http_addr.to_string();
    // Parts and predictions before the page opens: the charts have something to draw.
    wait_until(
        Duration::from_secs(120),
        "two finished parts and a tool prediction",
        || async {
            let parts = get_json(&http, "/api/parts").await.ok()?;
            let life = get_json(&http, "/api/life").await.ok()?;
            let predicted = life["tools"]
                .as_array()?
                .iter()
                .any(|t| t["in_spindle"] == true && !t["prediction"].is_null());
            (parts.as_array()?.len() >= 2 && predicted).then_some(())
        },
    )
    .await
    .unwrap();

    let (_browser, cdp) = chromium::open_with(&["--accept-lang=zh-CN".into()]).await;
    cdp.log_in(&format!("http://{http}"), "tester", TOKEN)
        .await
        .expect("login did not land on the status page");
    cdp.wait_eval(
        "document.documentElement.lang === 'zh-CN'",
        Duration::from_secs(10),
    )
    .await
    .expect("the page did not follow the browser's language");

    // The charts draw data: the shift's parts as bars, the tool's predictions over its cuts, the
    // load of the operation under way.
    for (what, sel) in [
        ("energy per part bars", "#energy-bars rect.barv"),
        ("oil per part bars", "#oil-bars rect.barv"),
        ("remaining life over cuts", "#rul-chart polyline.line"),
        ("remaining life band", "#rul-chart polygon.band"),
        (
            "spindle load of this operation",
            "#load-chart polyline.line",
        ),
    ] {
        cdp.wait_eval(
            &format!("document.querySelectorAll('{sel}').length > 0"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("no {what} chart: {e:#}"));
    }

    // Live values come from the stream: they change while the page makes no polling request.
    cdp.wait_eval("live === true", Duration::from_secs(15))
        .await
        .expect("the page never received the live stream");
    let polls = "performance.getEntriesByType('resource').filter(e => /\\/api\\/signals$/.test(e.name)).length";
    let before = cdp.eval(polls).await.unwrap();
    let values =
        "[...document.querySelectorAll('[data-signal] .val')].map(e => e.textContent).join('|')";
    let first = cdp.eval(values).await.unwrap();
    cdp.wait_eval(&format!("({values}) !== {first}"), Duration::from_secs(15))
        .await
        .expect("values did not change on the stream");
    assert_eq!(
        cdp.eval(polls).await.unwrap(),
        before,
        "the page polled while the stream was up"
    );

    // The agent's own messages (alarms, rules) in Chinese.
    cdp.wait_eval(
        "document.querySelectorAll('.alarm .msg').length > 0",
        Duration::from_secs(60),
    )
    .await
    .expect("no alarm on the page to read");
    let not_chinese = cdp
        .eval(
            "[...document.querySelectorAll('.msg')].filter(e => e.getClientRects().length && \
             !/[\\u4e00-\\u9fff]/.test(e.textContent)).map(e => e.textContent)",
        )
        .await
        .unwrap();
    assert_eq!(not_chinese, json!([]), "messages not in Chinese");
    // No English label anywhere on the page in Chinese.
    let english = cdp.eval(ENGLISH_LABELS).await.unwrap();
    assert_eq!(english, json!([]), "English on the page in zh-CN");
    // Figures are formatted for the locale and carry their units.
    let energy = cdp
        .eval("document.getElementById('f-energy').textContent")
        .await
        .unwrap();
    assert!(energy.as_str().unwrap().ends_with("kWh"), "{energy}");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("page-zh.png");
    cdp.screenshot(&shot).await.unwrap();
    eprintln!("screenshot: {}", shot.display());

    // The maintenance page in Chinese: its labels too, and each rated component's predicted
    // life with its band.
    cdp.call(
        "Page.navigate",
        json!({ "url": format!("http://{http}/maintenance") }),
    )
    .await
    .unwrap();
    cdp.wait_eval(
        "document.querySelectorAll('#predicted tr[data-component]').length >= 3",
        Duration::from_secs(15),
    )
    .await
    .expect("the maintenance page lists no rated component");
    let english = cdp.eval(ENGLISH_LABELS).await.unwrap();
    assert_eq!(
        english,
        json!([]),
        "English on the maintenance page in zh-CN"
    );
    cdp.screenshot(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("maintenance-zh.png"))
        .await
        .unwrap();
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_change_and_an_export_are_done_from_the_page() {
    let (_sim, agent) = agent_on_simulator("page-actions", 60.0, |_| {}).await;
    let http = agent.http_addr.to_string();
    wait_until(Duration::from_secs(120), "a finished operation", || async {
        let ops = get_json(&http, "/api/operations").await.ok()?;
        (!ops.as_array()?.is_empty()).then_some(())
    })
    .await
    .unwrap();

    let (_browser, cdp) = chromium::open().await;
    cdp.log_in(&format!("http://{http}"), "night shift", TOKEN)
        .await
        .expect("login did not land on the status page");
    cdp.wait_eval(
        "!document.getElementById('actions-section').hidden",
        Duration::from_secs(15),
    )
    .await
    .expect("no actions once logged in");

    // A wear measured on a tool in service, the tool staying in: the same form's second button.
    let life = get_json(&http, "/api/life").await.unwrap();
    let in_service = life["tools"][0].clone();
    let id = in_service["tool_id"]
        .as_str()
        .expect("a tool in service")
        .to_string();
    record_from_form(
        &cdp,
        &format!("f.tool.value = '{id}'; f.vb.value = '0.12'"),
        "document.getElementById('measure-wear')",
        "the wear measurement",
    )
    .await;
    if in_service["prediction"]["vb"].is_object() {
        let t = get_json(&http, "/api/life").await.unwrap()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tool_id"] == id.as_str())
            .cloned()
            .unwrap();
        assert_eq!(t["wear_measurements"], 1, "{t}");
    }

    // A worn-out tool with its measured wear, recorded from the form.
    let tool = "T9-0042";
    record_from_form(
        &cdp,
        &format!("f.tool.value = '{tool}'; f.reason.value = 'worn_out'; f.vb.value = '0.27'"),
        "f.querySelector('button')",
        "the tool change",
    )
    .await;
    let change = wait_until(
        Duration::from_secs(15),
        "the page's tool change in /api/life",
        || async {
            let life = get_json(&http, "/api/life").await.ok()?;
            life["recent_changes"]
                .as_array()?
                .iter()
                .find(|c| c["tool_id"] == tool)
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(change["reason"], "worn_out");
    assert_eq!(change["measured_vb_mm"], 0.27);
    assert_eq!(change["by"], "night shift");

    // The operations as Parquet, downloaded through the page's form into a folder.
    let downloads = temp_dir("page-downloads");
    cdp.call(
        "Page.setDownloadBehavior",
        json!({ "behavior": "allow", "downloadPath": downloads.to_str().unwrap() }),
    )
    .await
    .unwrap();
    cdp.eval(
        "(() => { const f = document.getElementById('export-form'); \
         f.what.value = 'operations'; f.format.value = 'parquet'; \
         f.querySelector('button').click(); return true; })()",
    )
    .await
    .unwrap();
    // Named by the agent (machine, what, window); Chromium writes `.crdownload` and renames it
    // when complete.
    let file = wait_until(Duration::from_secs(30), "the downloaded export", || async {
        std::fs::read_dir(&downloads)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "parquet"))
    })
    .await
    .unwrap();
    assert!(
        file.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("operations"),
        "{file:?}"
    );
    let df = polars::prelude::ParquetReader::new(std::fs::File::open(&file).unwrap())
        .finish()
        .expect("the downloaded export does not open in polars");
    assert!(df.height() >= 1, "no operation in the export");
    for column in ["energy_kwh", "co2e_kg", "verdict"] {
        assert!(
            df.column(column).is_ok(),
            "no {column} in {:?}",
            df.get_column_names()
        );
    }
    agent.shutdown().await;
}

/// kg CO₂e of each part is its energy times the grid factor plus its oil times the lubricant's,
/// oil saved is the flood baseline over its cutting time less its oil, and the shift's figures
/// add up from the parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbon_figures_are_energy_and_oil_times_their_factors_on_the_simulators_parts() {
    let (_sim, agent) = agent_on_simulator("carbon", 60.0, |cfg| {
        cfg.carbon.lubricant_kg_per_l = Some(2.5);
        cfg.carbon.lubricant_source = Some("the test's data sheet".into());
        cfg.carbon.flood_oil_ml_per_h = Some(300.0);
        cfg.carbon.flood_source = Some("the test's flood baseline".into());
    })
    .await;
    let http = agent.http_addr.to_string();
    let parts: Vec<Json> = wait_until(Duration::from_secs(120), "three finished parts", || async {
        let p = get_json(&http, "/api/parts").await.ok()?;
        let p = p.as_array()?.clone();
        (p.len() >= 3).then_some(p)
    })
    .await
    .unwrap();
    for p in &parts {
        let (e, oil, cut) = (
            p["energy_kwh"].as_f64().unwrap(),
            p["oil_ml"].as_f64().unwrap(),
            p["cutting_s"].as_f64().unwrap(),
        );
        assert!(e > 0.0, "a part without energy: {p}");
        let co2e = p["co2e_kg"].as_f64().unwrap();
        assert!(
            (co2e - (e * 0.5366 + oil / 1000.0 * 2.5)).abs() < 1e-9,
            "{p}"
        );
        let saved = p["oil_saved_ml"].as_f64().unwrap();
        assert!((saved - (300.0 * cut / 3600.0 - oil)).abs() < 1e-9, "{p}");
    }
    let an_hour_ago = agent::value::now_ms() - 3_600_000;
    let s = get_json(&http, &format!("/api/summary?from_ms={an_hour_ago}"))
        .await
        .unwrap();
    assert_eq!(s["carbon"]["grid_kg_per_kwh"], 0.5366);
    assert!(s["carbon"]["grid_source"]
        .as_str()
        .unwrap()
        .contains("生态环境部"));
    let n = s["parts"].as_f64().unwrap();
    let per_part = s["co2e_kg_per_part"].as_f64().unwrap();
    let energy_per_part = s["energy_kwh_per_part"].as_f64().unwrap();
    let oil_per_part = s["oil_ml_per_part"].as_f64().unwrap();
    assert!(n >= 3.0);
    assert!(
        (per_part - (energy_per_part * 0.5366 + oil_per_part / 1000.0 * 2.5)).abs() < 1e-9,
        "{s}"
    );
    assert!(s["oil_saved_ml"].as_f64().unwrap() > 0.0, "{s}");
    agent.shutdown().await;
}

//! The API's OpenAPI document (`GET /api/openapi.json`) against the agent's real answers: the
//! agent in-process on the simulator (with a tool table, a program table, a counter component
//! and a dead device for an alarm), every route called over a real socket, every answer's
//! status, content type and JSON body checked against what the served document says, and each
//! request body the test sends checked against the document's request schema too.
//!
//! The document's object schemas are closed for the check (a field the document does not list
//! fails it), so the wrappers the handlers build as `json!` cannot drift from the types that
//! describe them. The router's paths (read from the router itself) and its methods (probed:
//! 405 means not routed) must be the document's, and every documented operation must have been
//! answered with success once, so a new route without a description or without a call here
//! fails.

use std::collections::BTreeSet;
use std::time::Duration;

use agent::Agent;
use e2e::{dead_addr, from_a_day_ago, get_json, request, temp_dir, wait_until, Reply};
use serde_json::{json, Value as Json};
use simulator::Simulator;

const TOKEN: &str = "openapi-test-token-0123456789";
const DEAD_KEY: &str = "device:dead:unavailable";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// The example configuration with what makes every route answer with data: tables, a counter
/// component, a device nobody answers for (an alarm to act on), fast alarms.
fn config(dir: &std::path::Path) -> agent::config::Config {
    std::fs::write(
        dir.join("tools.toml"),
        "[[tool]]\nid = \"T1\"\nmaterial = \"carbide\"\ndiameter_mm = 63.0\nedges = 5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("programs.toml"),
        "[[program]]\nname = \"O9001\"\nmaterial_group = \"P\"\n",
    )
    .unwrap();
    let extra = format!(
        r#"
[machine]
tool_table = "{dir}/tools.toml"
program_table = "{dir}/programs.toml"

[alarms]
tick_ms = 50
on_delay_ms = 200
off_delay_ms = 200

[[alarms.component]]
name = "mql-pump-strokes"
signal = "mql.pump_strokes"
warning = 40000000
limit = 50000000

[[device]]
name = "dead"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
timeout_ms = 200
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
"#,
        dir = dir.display()
    );
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml");
    let text = format!("{}\n{extra}", agent::demo::SIMULATOR_CONFIG);
    let mut cfg = agent::config::parse_with(&file, &text, &|p| std::fs::read_to_string(p))
        .unwrap_or_else(|e| panic!("{e}"));
    cfg.store.flush_interval = Duration::from_secs(1);
    cfg.store.path = dir.join("agent.db");
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.http.token = Some(TOKEN.into());
    cfg
}

/// The served document, its schemas closed, and what the test has covered.
struct Check {
    http: String,
    doc: Json,
    /// `components` with every object schema closed to the fields it lists.
    components: Json,
    /// (method, path) answered with success.
    covered: BTreeSet<(String, String)>,
    /// Every disagreement found, each naming its route.
    problems: Vec<String>,
}

impl Check {
    fn new(http: String, doc: Json) -> Check {
        let mut components = doc["components"].clone();
        close(&mut components["schemas"]);
        Check {
            http,
            doc,
            components,
            covered: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// A validator for `schema` (a part of the document) with the document's components
    /// beside it, so `#/components/schemas/...` resolves.
    fn validator(&self, schema: &Json) -> std::result::Result<jsonschema::Validator, String> {
        let mut root = schema.clone();
        match root.as_object_mut() {
            Some(o) => {
                o.insert("components".into(), self.components.clone());
            }
            None => return Err(format!("not a schema: {schema}")),
        }
        jsonschema::draft202012::new(&root).map_err(|e| format!("unusable schema: {e}"))
    }

    fn validate(&self, schema: &Json, value: &Json) -> std::result::Result<(), String> {
        let v = self.validator(schema)?;
        let errors: Vec<String> = v
            .iter_errors(value)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn operation(&self, method: &str, path: &str) -> Option<&Json> {
        self.doc["paths"][path]
            .get(method.to_ascii_lowercase())
            .filter(|o| o.is_object())
    }

    /// `method` on the route `path` (as the document writes it) at `uri`, with the token or
    /// not, with a JSON body (checked against the request schema first) or a raw form; the
    /// answer checked against the document.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        uri: &str,
        token: bool,
        body: Body<'_>,
    ) -> Reply {
        let route = format!("{method} {path}");
        let bearer = format!("Bearer {TOKEN}");
        let mut headers = vec![];
        if token {
            headers.push(("Authorization", bearer.as_str()));
        }
        let text = match body {
            Body::None => String::new(),
            Body::Json(j) => {
                headers.push(("Content-Type", "application/json"));
                let schema = self.operation(method, path).map_or(Json::Null, |o| {
                    o["requestBody"]["content"]["application/json"]["schema"].clone()
                });
                if schema.is_null() {
                    self.problems
                        .push(format!("{route}: no JSON request body in the document"));
                } else if let Err(e) = self.validate(&schema, j) {
                    self.problems.push(format!(
                        "{route}: the test's request body {j} does not fit the document: {e}"
                    ));
                }
                j.to_string()
            }
            Body::Form(f) => {
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
                f.to_string()
            }
            Body::Raw(r) => r.to_string(),
        };
        let reply = request(&self.http, method, uri, &headers, &text)
            .await
            .unwrap_or_else(|e| panic!("{route} ({uri}): {e}"));
        if let Err(e) = self.answer(method, path, &reply) {
            self.problems.push(format!("{route} ({uri}): {e}"));
        }
        reply
    }

    /// Whether the document lists this answer: its status, its content type, and its body
    /// against the schema.
    fn answer(
        &mut self,
        method: &str,
        path: &str,
        reply: &Reply,
    ) -> std::result::Result<(), String> {
        let op = self
            .operation(method, path)
            .ok_or("the document does not list this route")?;
        let status = reply.code.to_string();
        let documented = op["responses"]
            .get(&status)
            .ok_or_else(|| {
                format!(
                    "answered {status}, which the document does not list: {}",
                    reply.body
                )
            })?
            .clone();
        if (200..400).contains(&reply.code) {
            self.covered.insert((method.to_string(), path.to_string()));
        }
        let content_type = reply
            .head
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let Some(content) = documented.get("content").and_then(Json::as_object) else {
            return match reply.body.is_empty() {
                true => Ok(()),
                false => Err(format!(
                    "{status} has a body, the document none: {}",
                    reply.body
                )),
            };
        };
        let content_type = content_type.ok_or(format!("{status} without a content type"))?;
        let media = content.get(&content_type).ok_or_else(|| {
            format!(
                "{status} is {content_type}, the document says {:?}",
                content.keys().collect::<Vec<_>>()
            )
        })?;
        if content_type == "application/json" {
            let body: Json = serde_json::from_str(&reply.body)
                .map_err(|e| format!("{status}: not JSON ({e}): {}", reply.body))?;
            self.validate(&media["schema"], &body)
                .map_err(|e| format!("{status} does not fit the document: {e}"))?;
        }
        Ok(())
    }
}

impl Check {
    /// `GET /api/stream`: the document's content type, and each event's data checked against
    /// the document's answer of the endpoint of the same name, until every event has come.
    async fn stream(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const ENDPOINT: [(&str, &str); 7] = [
            ("health", "/healthz"),
            ("signals", "/api/signals"),
            ("devices", "/api/devices"),
            ("alarms", "/api/alarms"),
            ("compliance", "/api/compliance"),
            ("life", "/api/life"),
            ("monitor", "/api/monitor"),
        ];
        let mut s = tokio::net::TcpStream::connect(&self.http).await.unwrap();
        // HTTP/1.0: the body is not chunked, the events can be read as they come.
        s.write_all(b"GET /api/stream HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        let mut seen = BTreeSet::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(20);
        while seen.len() < ENDPOINT.len() {
            let mut buf = vec![0u8; 64 * 1024];
            let n = match tokio::time::timeout_at(end, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            // Whole events only: each ends with a blank line.
            while let Some(at) = text.find("\n\n") {
                let block: String = text.drain(..at + 2).collect();
                if block.starts_with("HTTP/") {
                    let ok = block.starts_with("HTTP/1.1 200") || block.starts_with("HTTP/1.0 200");
                    let sse = block
                        .to_ascii_lowercase()
                        .contains("content-type: text/event-stream");
                    if !(ok && sse) {
                        self.problems.push(format!("GET /api/stream: {block}"));
                    }
                    continue;
                }
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::trim)
                        .map(String::from)
                };
                let (Some(event), Some(data)) = (field("event:"), field("data:")) else {
                    continue; // a keep-alive comment
                };
                let Some((_, endpoint)) = ENDPOINT.iter().find(|(e, _)| *e == event) else {
                    self.problems.push(format!(
                        "GET /api/stream: an event the document does not name: {event}"
                    ));
                    continue;
                };
                let schema = self.operation("GET", endpoint).map_or(Json::Null, |o| {
                    o["responses"]["200"]["content"]["application/json"]["schema"].clone()
                });
                let body: Json = serde_json::from_str(&data).unwrap_or(Json::Null);
                if let Err(e) = self.validate(&schema, &body) {
                    self.problems.push(format!(
                        "GET /api/stream: its {event} event does not fit {endpoint}'s answer: {e}"
                    ));
                }
                seen.insert(event);
            }
        }
        if seen.len() == ENDPOINT.len() {
            self.covered
                .insert(("GET".to_string(), "/api/stream".to_string()));
        } else {
            self.problems
                .push(format!("GET /api/stream: only {seen:?} within 20 s"));
        }
    }
}

enum Body<'a> {
    None,
    Json(&'a Json),
    Form(&'a str),
    Raw(&'a str),
}

/// Closes every object schema to the properties it lists (`additionalProperties: false`; for a
/// composition, `unevaluatedProperties: false`), except the parts of an `allOf`, which only
/// the whole may close.
fn close(schemas: &mut Json) {
    let mut in_all_of = BTreeSet::new();
    fn refs_in_all_of(v: &Json, out: &mut BTreeSet<String>) {
        match v {
            Json::Object(o) => {
                if let Some(parts) = o.get("allOf").and_then(Json::as_array) {
                    for p in parts {
                        if let Some(r) = p["$ref"].as_str() {
                            out.insert(r.trim_start_matches("#/components/schemas/").into());
                        }
                    }
                }
                o.values().for_each(|v| refs_in_all_of(v, out));
            }
            Json::Array(a) => a.iter().for_each(|v| refs_in_all_of(v, out)),
            _ => {}
        }
    }
    refs_in_all_of(schemas, &mut in_all_of);
    fn walk(v: &mut Json, part_of_all_of: bool) {
        let Some(o) = v.as_object_mut() else { return };
        if !part_of_all_of {
            if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".into(), json!(false));
            }
            if o.contains_key("allOf") {
                o.insert("unevaluatedProperties".into(), json!(false));
            }
        }
        for (k, child) in o.iter_mut() {
            match k.as_str() {
                "allOf" => child
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|c| walk(c, true)),
                "oneOf" | "anyOf" | "prefixItems" => child
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|c| walk(c, false)),
                "properties" => child
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                    .for_each(|c| walk(c, false)),
                "items" | "additionalProperties" => walk(child, false),
                _ => {}
            }
        }
    }
    for (name, s) in schemas
        .as_object_mut()
        .expect("components.schemas")
        .iter_mut()
    {
        walk(s, in_all_of.contains(name));
    }
}

/// A concrete path for a route: its parameters filled with values that name nothing.
fn concrete(path: &str) -> String {
    path.replace("{which}", "tools")
        .replace("{key}", "no-such-alarm")
        .replace("{name}", "no-such-component")
        .replace("{id}", "no-such-tool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_the_served_document_says() {
    let sc = e2e::scenario("normal-near-dry.toml", 20.0);
    let sim = Simulator::start(sc).await.unwrap();
    let dir = temp_dir("openapi");
    let mut cfg = config(&dir);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    // `point_at` points every Modbus TCP device at the simulator; this one must stay dead.
    for d in &mut cfg.devices {
        if let (true, agent::config::Connection::ModbusTcp { address, .. }) =
            (d.name == "dead", &mut d.connection)
        {
            *address = dead_addr().to_string();
        }
    }
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();

    // The document, without a token.
    let r = request(&http, "GET", "/api/openapi.json", &[], "")
        .await
        .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    let doc: Json = serde_json::from_str(&r.body).expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    let mut check = Check::new(http.clone(), doc.clone());

    // The router's paths are the document's.
    let routed: BTreeSet<String> = agent::http::openapi::routed_paths().into_iter().collect();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    assert!(
        routed.len() > 20,
        "the router's paths could not be read: {routed:?}"
    );
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routed but not in the document"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the document but not routed"
    );

    // Its methods are the document's: a method the router does not route answers 405 (with the
    // token, so the token check does not answer first). The parameters name nothing and the
    // bodies are empty, so no probe changes anything; every answer but a 405 is checked too.
    for path in &routed {
        let uri = concrete(path);
        for method in METHODS {
            if (method, path.as_str()) == ("GET", "/api/stream") {
                // An answer that never ends: checked below, event by event.
                continue;
            }
            let r = request(
                &http,
                method,
                &uri,
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                "",
            )
            .await
            .unwrap();
            let is_routed = r.code != 405;
            let is_documented = check.operation(method, path).is_some();
            if is_routed != is_documented {
                check.problems.push(format!(
                    "{method} {path}: routed {is_routed} (answered {}), documented \
                     {is_documented}",
                    r.code
                ));
            } else if is_routed {
                if let Err(e) = check.answer(method, path, &r) {
                    check
                        .problems
                        .push(format!("{method} {path} ({uri}, probe): {e}"));
                }
            }
        }
    }

    // Data behind every answer: finished operations and parts, predictions, the component's
    // counter, the dead device's alarm.
    let day = from_a_day_ago();
    let (program, tool) = wait_until(
        Duration::from_secs(120),
        "operations, parts, predictions, the component's counter and the alarm",
        || async {
            let ops = get_json(&http, &format!("/api/operations?{day}"))
                .await
                .ok()?;
            let program = ops.as_array()?.iter().find_map(|o| o["program"].as_str())?;
            let parts = get_json(&http, &format!("/api/parts?{day}")).await.ok()?;
            parts.as_array()?.first()?;
            let life = get_json(&http, "/api/life").await.ok()?;
            let tool = life["tools"]
                .as_array()?
                .iter()
                .find(|t| t["prediction"].is_object())?["tool_id"]
                .as_str()?
                .to_string();
            let c = get_json(&http, "/api/components").await.ok()?;
            c["components"][0]["used"].as_f64()?;
            let a = get_json(&http, "/api/alarms").await.ok()?;
            a["alarms"]
                .as_array()?
                .iter()
                .find(|a| a["key"] == DEAD_KEY && a["state"] == "active_unacked")?;
            Some((program.to_string(), tool))
        },
    )
    .await
    .unwrap();

    // A wrong token: 401, and an access event.
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/ack"),
        &[("Authorization", "Bearer wrong-token-0123456789")],
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 401);
    if let Err(e) = check.answer("POST", "/api/alarms/{key}/ack", &r) {
        check.problems.push(format!("POST ack, wrong token: {e}"));
    }

    // Reading.
    for (path, uri) in [
        ("/", "/".to_string()),
        ("/maintenance", "/maintenance".into()),
        ("/healthz", "/healthz".into()),
        ("/metrics", "/metrics".into()),
        ("/login", "/login".into()),
        ("/api/openapi.json", "/api/openapi.json".into()),
        ("/api/signals", "/api/signals".into()),
        ("/api/devices", "/api/devices".into()),
        (
            "/api/history",
            format!("/api/history?signal=spindle.speed&{day}"),
        ),
        ("/api/compliance", "/api/compliance".into()),
        ("/api/operations", format!("/api/operations?{day}&limit=50")),
        ("/api/parts", format!("/api/parts?{day}")),
        ("/api/summary", "/api/summary?period=day".into()),
        ("/api/summary", format!("/api/summary?{day}")),
        ("/api/life", "/api/life".into()),
        ("/api/life/trend", "/api/life/trend".into()),
        ("/api/monitor", "/api/monitor".into()),
        (
            "/api/life/prerun",
            format!("/api/life/prerun?program={program}"),
        ),
        ("/api/tables/{which}", "/api/tables/tools".into()),
        ("/api/tables/{which}", "/api/tables/programs".into()),
        ("/api/alarms", "/api/alarms".into()),
        ("/api/alarms/history", format!("/api/alarms/history?{day}")),
        ("/api/components", "/api/components".into()),
        ("/api/counter-events", format!("/api/counter-events?{day}")),
        ("/api/session", "/api/session".into()),
    ] {
        check.call("GET", path, &uri, false, Body::None).await;
    }
    check
        .call("GET", "/api/session", "/api/session", true, Body::None)
        .await;
    check.stream().await;
    let events = wait_until(
        Duration::from_secs(20),
        "the wrong token's access event",
        || async {
            let r = request(
                &http,
                "GET",
                &format!("/api/access-events?{day}"),
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                "",
            )
            .await
            .ok()?;
            let j = r.json();
            j["events"].as_array()?.first()?;
            Some(j)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        events["events"][0]["via"],
        "bearer /api/alarms/device:dead:unavailable/ack"
    );
    check
        .call(
            "GET",
            "/api/access-events",
            &format!("/api/access-events?{day}"),
            true,
            Body::None,
        )
        .await;
    let r = check
        .call(
            "GET",
            "/api/export",
            &format!("/api/export?what=operations&{day}"),
            true,
            Body::None,
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);

    // Changing, each with a valid request.
    let alarm = |action: &str| format!("/api/alarms/{DEAD_KEY}/{action}");
    let shelve = json!({ "minutes": 5 });
    for (action, body) in [
        ("ack", None),
        ("shelve", Some(&shelve)),
        ("unshelve", None),
        ("out-of-service", None),
        ("return-to-service", None),
    ] {
        let path = format!("/api/alarms/{{key}}/{action}");
        let body = body.map_or(Body::None, Body::Json);
        let r = check.call("POST", &path, &alarm(action), true, body).await;
        assert_eq!(r.code, 200, "{action}: {}", r.body);
    }
    let r = check
        .call(
            "POST",
            "/api/components/{name}/reset",
            "/api/components/mql-pump-strokes/reset",
            true,
            Body::None,
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    // A wear measured on the tool before it is changed.
    let wear = json!({ "vb_mm": 0.12 });
    let r = check
        .call(
            "POST",
            "/api/tools/{id}/wear",
            &format!("/api/tools/{tool}/wear"),
            true,
            Body::Json(&wear),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let r = check
        .call(
            "POST",
            "/api/tools/{id}/wear",
            "/api/tools/NO-SUCH-TOOL/wear",
            true,
            Body::Json(&wear),
        )
        .await;
    assert_eq!(r.code, 404, "{}", r.body);
    let change = json!({ "reason": "worn_out", "measured_vb_mm": 0.21 });
    let r = check
        .call(
            "POST",
            "/api/tools/{id}/change",
            &format!("/api/tools/{tool}/change"),
            true,
            Body::Json(&change),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let tools = json!([{ "id": "T1", "material": "carbide", "diameter_mm": 50.0, "edges": 4.0 }]);
    let programs = json!([{ "name": "O9001", "material_group": "M", "hardness_hrc": 20.0 }]);
    for (which, body) in [("tools", &tools), ("programs", &programs)] {
        let r = check
            .call(
                "PUT",
                "/api/tables/{which}",
                &format!("/api/tables/{which}"),
                true,
                Body::Json(body),
            )
            .await;
        assert_eq!(r.code, 200, "{which}: {}", r.body);
    }
    let r = check
        .call(
            "POST",
            "/login",
            "/login",
            false,
            Body::Form(&format!("name=openapi&token={TOKEN}")),
        )
        .await;
    assert_eq!(r.code, 303, "{}", r.body);
    check
        .call("POST", "/logout", "/logout", false, Body::None)
        .await;

    // Refusals, each as documented.
    let bad_shelve = json!({ "minutes": 0 });
    for (method, path, uri, token, body) in [
        (
            "GET",
            "/api/history",
            "/api/history".to_string(),
            false,
            Body::None,
        ),
        (
            "GET",
            "/api/operations",
            "/api/operations?limit=0".into(),
            false,
            Body::None,
        ),
        (
            "GET",
            "/api/summary",
            "/api/summary?period=week".into(),
            false,
            Body::None,
        ),
        (
            "GET",
            "/api/life/prerun",
            "/api/life/prerun".into(),
            false,
            Body::None,
        ),
        (
            "GET",
            "/api/tables/{which}",
            "/api/tables/nothing".into(),
            false,
            Body::None,
        ),
        (
            "GET",
            "/api/export",
            "/api/export?what=operations&form=csv".into(),
            true,
            Body::None,
        ),
        (
            "POST",
            "/api/alarms/{key}/ack",
            "/api/alarms/no-such-alarm/ack".into(),
            true,
            Body::None,
        ),
        (
            "POST",
            "/api/alarms/{key}/ack",
            alarm("ack"),
            false,
            Body::None,
        ),
        (
            "POST",
            "/api/alarms/{key}/shelve",
            alarm("shelve"),
            true,
            Body::Raw("{\"minutes\": 0}"),
        ),
        (
            "POST",
            "/api/tools/{id}/change",
            "/api/tools/T1/change".into(),
            true,
            Body::Raw("{}"),
        ),
        (
            "POST",
            "/api/tools/{id}/wear",
            "/api/tools/T1/wear".into(),
            true,
            Body::Raw("{\"vb_mm\": -1}"),
        ),
        (
            "PUT",
            "/api/tables/{which}",
            "/api/tables/tools".into(),
            true,
            Body::Raw("[{\"nid\": 1}]"),
        ),
        (
            "POST",
            "/login",
            "/login".into(),
            false,
            Body::Form("name=&token=x"),
        ),
    ] {
        let r = check.call(method, path, &uri, token, body).await;
        assert!(
            (400..500).contains(&r.code),
            "{method} {uri}: refused, not {} {}",
            r.code,
            r.body
        );
    }
    assert!(check
        .validate(&doc["components"]["schemas"]["ShelveRequest"], &bad_shelve)
        .is_err());

    // Last, as it locks this address out for a while: wrong tokens until the back-off answers
    // 429.
    wait_until(
        Duration::from_secs(30),
        "a 429 for wrong tokens",
        || async {
            let r = request(
                &http,
                "POST",
                &alarm("ack"),
                &[("Authorization", "Bearer wrong-token-0123456789")],
                "",
            )
            .await
            .ok()?;
            (r.code == 429).then_some(r)
        },
    )
    .await
    .map(|r| {
        if let Err(e) = check.answer("POST", "/api/alarms/{key}/ack", &r) {
            check.problems.push(format!("POST ack, locked out: {e}"));
        }
    })
    .unwrap();

    // Every documented operation was answered with success at least once.
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some()
                && !check.covered.contains(&(method.to_string(), path.clone()))
            {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        check.problems.is_empty() && missing.is_empty(),
        "answers that disagree with the document:\n{}\nroutes never answered with success: \
         {missing:?}",
        check.problems.join("\n")
    );
    agent.shutdown().await;
    drop(sim);
}

//! `GET /metrics` in the Prometheus text format, written by hand (a few dozen lines, no
//! registry crate): per device polls, errors, latency and signal qualities; alarms by state and
//! severity; counter steps refused as implausible; channel delivery; MQTT publishing; store
//! size.

use std::fmt::Write;

use axum::extract::State as Extract;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::condition::Severity;
use crate::records::alarm::AlarmState;

/// Label values escaped as the text format wants.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn line(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect();
        if l.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{}}} {v}", l.join(","));
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", content_type = "text/plain", body = String)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn metrics(Extract(app): Extract<AppState>) -> Response {
    let devices = app.state.device_views();
    let store = app.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats().ok())
        .await
        .ok()
        .flatten();
    let mut o = Out(String::new());

    o.head(
        "agent_device_connected",
        "gauge",
        "1 while the device is connected",
    );
    for d in &devices {
        o.line(
            "agent_device_connected",
            &[("device", &d.name)],
            f64::from(u8::from(d.connected)),
        );
    }
    o.head(
        "agent_device_polls_total",
        "counter",
        "requests to the device",
    );
    for d in &devices {
        o.line(
            "agent_device_polls_total",
            &[("device", &d.name)],
            d.polls as f64,
        );
    }
    o.head(
        "agent_device_errors_total",
        "counter",
        "failed requests to the device",
    );
    for d in &devices {
        o.line(
            "agent_device_errors_total",
            &[("device", &d.name)],
            d.errors as f64,
        );
    }
    o.head(
        "agent_device_latency_seconds",
        "gauge",
        "latency of the last request",
    );
    for d in &devices {
        o.line(
            "agent_device_latency_seconds",
            &[("device", &d.name)],
            d.last_latency_ms / 1e3,
        );
    }
    o.head("agent_signals", "gauge", "signals by device and quality");
    for d in &devices {
        for (q, n) in [
            ("good", d.signals_good),
            ("stale", d.signals_stale),
            ("unavailable", d.signals_unavailable),
        ] {
            o.line(
                "agent_signals",
                &[("device", &d.name), ("quality", q)],
                n as f64,
            );
        }
    }

    let alarms = app.alarms.views();
    o.head(
        "agent_alarms",
        "gauge",
        "alarms that are not normal, by state and severity",
    );
    for s in AlarmState::ALL.iter().filter(|s| **s != AlarmState::Normal) {
        for sev in [Severity::Info, Severity::Warning, Severity::Critical] {
            let n = alarms
                .iter()
                .filter(|a| a.state == *s && a.severity == sev)
                .count();
            o.line(
                "agent_alarms",
                &[("state", s.as_str()), ("severity", sev.as_str())],
                n as f64,
            );
        }
    }
    o.head(
        "agent_alarm_transitions_total",
        "counter",
        "alarm transitions in the audit trail",
    );
    o.line(
        "agent_alarm_transitions_total",
        &[],
        app.alarms.transitions() as f64,
    );
    o.head(
        "agent_counter_events_total",
        "counter",
        "counter steps refused by a plausibility guard since start (jump: not counted; \
         backwards: reset at the device, counted on from the new value)",
    );
    for ((counter, signal, kind), n) in app.life.counter_event_counts() {
        o.line(
            "agent_counter_events_total",
            &[
                ("counter", &counter),
                ("signal", &signal),
                ("kind", kind.as_str()),
            ],
            n as f64,
        );
    }
    o.head(
        "agent_store_write_failures_total",
        "counter",
        "store writes that failed (what they held is kept within bounds and retried)",
    );
    o.line(
        "agent_store_write_failures_total",
        &[],
        app.store.write_failures() as f64,
    );

    o.head(
        "agent_http_wrong_tokens_total",
        "counter",
        "requests and logins with a wrong token (each is logged with the client's address)",
    );
    o.line(
        "agent_http_wrong_tokens_total",
        &[],
        app.auth
            .failed_total
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );

    o.head(
        "agent_loop_panics_total",
        "counter",
        "panics caught in a supervised loop's step (the loop went on)",
    );
    for p in &app.loops {
        o.line(
            "agent_loop_panics_total",
            &[("loop", p.name())],
            p.panics() as f64,
        );
    }
    o.head(
        "agent_loop_tick_age_seconds",
        "gauge",
        "time since a supervised loop last completed a step",
    );
    for p in &app.loops {
        o.line(
            "agent_loop_tick_age_seconds",
            &[("loop", p.name())],
            p.age().as_secs_f64(),
        );
    }
    o.head(
        "agent_loop_stuck",
        "gauge",
        "1 while a supervised loop has not completed a step for several intervals",
    );
    for p in &app.loops {
        o.line(
            "agent_loop_stuck",
            &[("loop", p.name())],
            f64::from(u8::from(p.stuck())),
        );
    }
    let st = app.store.status();
    o.head(
        "agent_store_state",
        "gauge",
        "1 for the store's state now: ok, failing (writes fail, retried) or unavailable",
    );
    for state in ["ok", "failing", "unavailable"] {
        o.line(
            "agent_store_state",
            &[("state", state)],
            f64::from(u8::from(st.state == state)),
        );
    }
    for (name, kind, help, v) in [
        (
            "agent_store_backlog_samples",
            "gauge",
            "samples waiting in the writer's batch",
            st.backlog_samples as f64,
        ),
        (
            "agent_store_backlog_records",
            "gauge",
            "records waiting in the writer's batch",
            st.backlog_records as f64,
        ),
        (
            "agent_store_dropped_records_total",
            "counter",
            "records the store could not keep (bounded batch, stuck or unavailable store)",
            st.dropped_records as f64,
        ),
        (
            "agent_store_shifted_samples_total",
            "counter",
            "samples stored a millisecond or more late: their millisecond was taken",
            st.shifted_samples as f64,
        ),
        (
            "agent_store_retention_deleted_total",
            "counter",
            "rows deleted by retention since start",
            st.retention_deleted as f64,
        ),
        (
            "agent_store_last_commit_timestamp_seconds",
            "gauge",
            "when the writer last committed (0: not yet this run)",
            st.last_commit_ms.unwrap_or(0) as f64 / 1000.0,
        ),
    ] {
        o.head(name, kind, help);
        o.line(name, &[], v);
    }

    let channels = app.notifier.channels();
    use std::sync::atomic::Ordering::Relaxed;
    for (name, help, get) in [
        ("agent_notify_delivered_total", "events delivered", 0),
        ("agent_notify_failures_total", "failed delivery attempts", 1),
        (
            "agent_notify_dropped_total",
            "events lost (queue or backlog full, or refused)",
            2,
        ),
        ("agent_notify_backlog", "events waiting", 3),
    ] {
        o.head(name, if get == 3 { "gauge" } else { "counter" }, help);
        for (ch, s) in channels {
            let v = [&s.delivered, &s.failures, &s.dropped, &s.backlog][get].load(Relaxed);
            o.line(name, &[("channel", ch)], v as f64);
        }
    }

    if let Some(f) = &app.fleet {
        for (name, kind, help, v) in [
            (
                "agent_mqtt_connected",
                "gauge",
                "1 while connected to the broker",
                u64::from(f.connected.load(Relaxed)),
            ),
            (
                "agent_mqtt_delivered_total",
                "counter",
                "messages the broker acknowledged",
                f.delivered.load(Relaxed),
            ),
            (
                "agent_mqtt_dropped_total",
                "counter",
                "messages dropped: the outbox budget was exceeded",
                f.dropped.load(Relaxed),
            ),
            (
                "agent_mqtt_queued",
                "gauge",
                "messages waiting for the broker (memory and disk)",
                f.queued.load(Relaxed),
            ),
            (
                "agent_mqtt_queued_on_disk",
                "gauge",
                "messages waiting in the outbox file",
                f.queued_on_disk.load(Relaxed),
            ),
            (
                "agent_mqtt_outbox_bytes",
                "gauge",
                "bytes of the messages in the outbox file",
                f.disk_bytes.load(Relaxed),
            ),
        ] {
            o.head(name, kind, help);
            o.line(name, &[], v as f64);
        }
    }

    o.head(
        "agent_store_dropped_samples_total",
        "counter",
        "samples dropped: the store could not keep up, or its bounded batch overflowed",
    );
    o.line(
        "agent_store_dropped_samples_total",
        &[],
        app.state.dropped_samples() as f64,
    );
    if let Some((rows, bytes)) = stats {
        o.head("agent_store_samples", "gauge", "rows in the sample table");
        o.line("agent_store_samples", &[], rows as f64);
        o.head(
            "agent_store_bytes",
            "gauge",
            "size of the store file and its WAL",
        );
        o.line("agent_store_bytes", &[], bytes as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.0,
    )
        .into_response()
}

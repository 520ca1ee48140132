//! Checks of the `[alarms]`, `[notify.*]` and `[http]` sections, in the same manner as
//! `validate.rs`: every problem recorded with its place, then the next check.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::raw::{RawConfig, RawGpio, RawHttp, RawWebhook};
use super::template::Template;
use super::*;
use crate::condition::Severity;

fn ms(v: &Option<Spanned<u64>>, default: u64) -> Duration {
    Duration::from_millis(v.as_ref().map_or(default, |x| *x.get_ref()))
}

/// Milliseconds that must be greater than 0.
fn positive_ms(
    d: &mut Diagnostics,
    v: &Option<Spanned<u64>>,
    what: &str,
    default: u64,
) -> Duration {
    Duration::from_millis(d.positive(v.as_ref(), what).unwrap_or(default))
}

/// `signals`: every signal name the devices feed.
pub fn check(
    d: &mut Diagnostics,
    raw: &RawConfig,
    signals: &HashSet<String>,
) -> (AlarmSettings, NotifySettings, HttpSettings) {
    let notify = NotifySettings {
        webhooks: raw
            .notify
            .webhook
            .iter()
            .enumerate()
            .map(|(i, w)| webhook(d, w, i))
            .collect(),
        gpio: raw.notify.gpio.as_ref().map(|g| gpio(d, g)),
    };

    let a = &raw.alarms;
    let mut names = HashSet::new();
    let components = a
        .components
        .iter()
        .filter_map(|c| {
            let name = c.name.get_ref();
            if !names.insert(name.clone()) {
                d.at(c.name.span(), format!("duplicate component `{name}`"));
            }
            if !signals.contains(c.signal.get_ref()) {
                d.at(
                    c.signal.span(),
                    format!(
                        "component `{name}`: no device feeds signal `{}`",
                        c.signal.get_ref()
                    ),
                );
                return None;
            }
            let (w, l) = (*c.warning.get_ref(), *c.limit.get_ref());
            if !(w.is_finite() && l.is_finite() && w <= l) {
                d.at(
                    c.warning.span(),
                    format!("component `{name}`: need finite warning <= limit"),
                );
            }
            Some(Component {
                name: name.clone(),
                signal: c.signal.get_ref().clone(),
                warning: w,
                limit: l,
            })
        })
        .collect();
    let on_delay = ms(&a.on_delay_ms, 2000);
    let off_delay = ms(&a.off_delay_ms, 5000);
    let max_webhook_tier = notify.webhooks.iter().map(|w| w.tier).max().unwrap_or(0);
    let alarms = AlarmSettings {
        tick: positive_ms(d, &a.tick_ms, "tick_ms", 250),
        on_delay,
        off_delay,
        delays: a
            .delays
            .iter()
            .map(|x| DelayOverride {
                prefix: x.prefix.get_ref().clone(),
                on_delay: x
                    .on_delay_ms
                    .as_ref()
                    .map_or(on_delay, |v| Duration::from_millis(*v.get_ref())),
                off_delay: x
                    .off_delay_ms
                    .as_ref()
                    .map_or(off_delay, |v| Duration::from_millis(*v.get_ref())),
            })
            .collect(),
        escalate_after: a
            .escalate_after_s
            .as_ref()
            .and_then(|s| (*s.get_ref() > 0).then(|| Duration::from_secs(*s.get_ref()))),
        max_tier: a
            .max_tier
            .as_ref()
            .map_or(max_webhook_tier, |t| *t.get_ref()),
        device_severity: a
            .device_severity
            .as_ref()
            .map_or(Severity::Warning, |s| *s.get_ref()),
        components,
    };
    (alarms, notify, http(d, &raw.http))
}

/// A webhook URL as it may be shown: scheme, host and port. A chat tool's webhook URL carries
/// its secret in the path or the query (`…/send?key=…`), and whoever has it can post to the
/// room, so neither ever reaches a log or an error message.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}/…", u.scheme()),
            (Some(h), None) => format!("{}://{h}/…", u.scheme()),
            (None, _) => format!("{}:…", u.scheme()),
        },
        Err(_) => "(not a URL)".into(),
    }
}

fn webhook(d: &mut Diagnostics, w: &RawWebhook, i: usize) -> WebhookTarget {
    let url = w.url.get_ref();
    let shown = redacted_url(url);
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => d.at(
            w.url.span(),
            format!(
                "webhook url `{shown}`: scheme `{}` (http or https)",
                u.scheme()
            ),
        ),
        Err(e) => d.at(w.url.span(), format!("webhook url: {e}")),
    }
    let template = w.template.as_ref().and_then(|t| {
        // Checked with a sample event now, not at 3 a.m. when it is first used.
        Template::parse(t.get_ref())
            .inspect_err(|e| d.at(t.span(), format!("webhook template: {e}")))
            .ok()
    });
    let retry_initial = positive_ms(d, &w.retry_initial_ms, "retry_initial_ms", 1000);
    let retry_max = ms(&w.retry_max_ms, 60_000).max(retry_initial);
    WebhookTarget {
        name: w
            .name
            .as_ref()
            .map_or(format!("webhook-{}", i + 1), |n| n.get_ref().clone()),
        url: url.clone(),
        timeout: positive_ms(d, &w.timeout_ms, "timeout_ms", 5000),
        tier: w.tier.as_ref().map_or(0, |t| *t.get_ref()),
        min_severity: w
            .min_severity
            .as_ref()
            .map_or(Severity::Info, |s| *s.get_ref()),
        template,
        retry_initial,
        retry_max,
        backlog: backlog(d, &w.backlog),
        headers: w
            .headers
            .as_ref()
            .map(|h| {
                h.get_ref()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn backlog(d: &mut Diagnostics, v: &Option<Spanned<usize>>) -> usize {
    match v {
        Some(b) if *b.get_ref() == 0 => {
            d.at(b.span(), "backlog must be greater than 0");
            1000
        }
        Some(b) => *b.get_ref(),
        None => 1000,
    }
}

fn http(d: &mut Diagnostics, h: &RawHttp) -> HttpSettings {
    let token = match (&h.token, &h.token_file) {
        (Some(t), Some(_)) => {
            d.at(t.span(), "give `token` or `token_file`, not both");
            None
        }
        (Some(t), None) => Some((t.get_ref().clone(), t.span())),
        (None, Some(f)) => read_secret_file(d, f, "token_file"),
        (None, None) => None,
    };
    let token = token.and_then(|(t, span)| {
        if t.len() < 16 {
            d.at(span, "the token must be at least 16 characters");
        }
        (!t.is_empty()).then_some(t)
    });
    let tls = match (&h.tls_cert, &h.tls_key) {
        (Some(c), Some(k)) => Some((c.get_ref().into(), k.get_ref().into())),
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => {
            d.at(s.span(), "tls_cert and tls_key go together");
            None
        }
    };
    HttpSettings {
        token,
        read_requires_auth: h.read_requires_auth.unwrap_or(false),
        session: Duration::from_secs(
            3600 * d
                .positive(h.session_hours.as_ref(), "session_hours")
                .unwrap_or(12),
        ),
        tls,
        allow_plaintext: h.allow_plaintext.unwrap_or(false),
        request_timeout: Duration::from_secs(
            d.positive(h.request_timeout_s.as_ref(), "request_timeout_s")
                .unwrap_or(60),
        ),
        max_requests: d
            .positive(h.max_requests.as_ref(), "max_requests")
            .unwrap_or(32),
    }
}

/// A token or password file must not be readable by anyone but its owner: it is a password.
pub(super) fn read_secret_file(
    d: &mut Diagnostics,
    f: &Spanned<String>,
    key: &str,
) -> Option<(String, std::ops::Range<usize>)> {
    let path = Path::new(f.get_ref());
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            d.at(f.span(), format!("{key} `{}`: {e}", path.display()));
            return None;
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            d.at(
                f.span(),
                format!(
                    "{key} `{}` has mode {mode:o}: readable by others (chmod 600 it)",
                    path.display()
                ),
            );
            return None;
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    match std::fs::read_to_string(path) {
        Ok(t) => Some((t.trim().to_string(), f.span())),
        Err(e) => {
            d.at(f.span(), format!("{key} `{}`: {e}", path.display()));
            None
        }
    }
}

/// `[notify.gpio]`: BCM pins 0..27, each used once.
pub(super) fn gpio(d: &mut Diagnostics, g: &RawGpio) -> GpioSettings {
    let pins = [&g.red, &g.amber, &g.green, &g.buzzer, &g.ack_button];
    let mut used = HashSet::new();
    for p in pins.into_iter().flatten() {
        if *p.get_ref() > 27 {
            d.at(p.span(), "GPIO pin must be a BCM number 0..27");
        } else if !used.insert(*p.get_ref()) {
            d.at(p.span(), format!("GPIO pin {} is used twice", p.get_ref()));
        }
    }
    GpioSettings {
        red: g.red.as_ref().map(|p| *p.get_ref()),
        amber: g.amber.as_ref().map(|p| *p.get_ref()),
        green: g.green.as_ref().map(|p| *p.get_ref()),
        buzzer: g.buzzer.as_ref().map(|p| *p.get_ref()),
        ack_button: g.ack_button.as_ref().map(|p| *p.get_ref()),
        active_low: g.active_low.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = r#"
[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "127.0.0.1:5020"
  [[device.tag]]
  name = "hours"
  table = "input"
  address = 0
  signal = "mql.pump_operating_time"
"#;

    fn problems(extra: &str) -> Vec<String> {
        match crate::config::parse(Path::new("t.toml"), &format!("{BASE}{extra}")) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    #[test]
    fn a_full_alarm_configuration_loads() {
        let src = format!(
            "{BASE}{}",
            r#"
[alarms]
on_delay_ms = 1000
escalate_after_s = 300
[[alarms.delay]]
prefix = "device:"
on_delay_ms = 10000
[[alarms.component]]
name = "mql-pump"
signal = "mql.pump_operating_time"
warning = 1800
limit = 2000
[[notify.webhook]]
url = "https://chat.example/hook"
tier = 1
template = '{"text": "{{severity}}: {{message}}"}'
[notify.gpio]
red = 17
buzzer = 23
[http]
token = "0123456789abcdef"
"#
        );
        let c = crate::config::parse(Path::new("t.toml"), &src).unwrap();
        assert_eq!(c.alarms.max_tier, 1, "from the webhook tiers");
        assert_eq!(c.alarms.delays[0].off_delay, c.alarms.off_delay);
        assert_eq!(c.http.token.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn problems_have_their_places() {
        let p = problems(
            r#"
[[alarms.component]]
name = "x"
signal = "spindle.speed"
warning = 1
limit = 2
[[notify.webhook]]
url = "ftp://x"
template = '{"text": "{{nosuchfield}}"}'
[notify.gpio]
red = 17
green = 17
[http]
token = "short"
"#,
        );
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(
            p[0].starts_with("t.toml:14:") && p[0].contains("no device feeds"),
            "{p:?}"
        );
        assert!(p[1].contains("scheme `ftp`"), "{p:?}");
        assert!(p[2].contains("nosuchfield"), "{p:?}");
        assert!(p[3].contains("used twice"), "{p:?}");
        assert!(p[4].contains("at least 16"), "{p:?}");
    }

    #[test]
    fn a_token_file_readable_by_others_is_refused() {
        let dir = std::env::temp_dir().join(format!("tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "0123456789abcdef0123\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let extra = format!("[http]\ntoken_file = \"{}\"\n", f.display());
        let p = problems(&extra);
        assert!(p[0].contains("chmod 600"), "{p:?}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = crate::config::parse(Path::new("t.toml"), &format!("{BASE}{extra}")).unwrap();
        assert_eq!(c.http.token.as_deref(), Some("0123456789abcdef0123"));
    }
}

//! Life against its warning and limit levels, as conditions for the alarm engine: the CNC's
//! own tool-life counter (`tool.life_*`, per the tool in the spindle); configured component
//! counters (`[[alarms.component]]`: pump hours, strokes) from their last reset; predicted
//! component life (`components.rs`: P10 of the remaining hours) against `[life.components]`
//! levels; and the predicted remaining life of the tool in the spindle against `[life]`
//! levels.

use crate::condition::{Condition, Severity};
use crate::config::Component;
use crate::evaluators::frame::Frame;
use crate::records::tool::Prediction;

/// Conditions of the tool in the spindle: `tool:<id>:life-warning` and `tool:<id>:life-limit`.
/// A tool change makes the old tool's keys vanish, which clears its alarms.
pub fn tool_conditions(f: &Frame) -> Vec<Condition> {
    let id = match f.text("tool.id") {
        Some(t) if !t.is_empty() => t,
        _ => return Vec::new(),
    };
    let (Some(value), Some(warning), Some(limit)) = (
        f.num("tool.life_value"),
        f.num("tool.life_warning"),
        f.num("tool.life_limit"),
    ) else {
        return Vec::new();
    };
    // OPC 40501 ToolLife: counting up from 0 towards the limit, or down towards it.
    let up = f.flag("tool.life_counting_up") != Some(false);
    let reached = |level: f64| if up { value >= level } else { value <= level };
    let remaining = if up { limit - value } else { value - limit };
    let source = "tool life setting of the CNC".to_string();
    vec![
        Condition {
            key: format!("tool:{id}:life-warning"),
            active: reached(warning) && !reached(limit),
            severity: Severity::Warning,
            message: format!(
                "tool {id}: life {value:.1} min past warning {warning:.1} min; {remaining:.1} min left"
            ),
            source: source.clone(),
        },
        Condition {
            key: format!("tool:{id}:life-limit"),
            active: reached(limit),
            severity: Severity::Critical,
            message: format!("tool {id}: life {value:.1} min reached limit {limit:.1} min; change the tool"),
            source,
        },
    ]
}

/// `component:<name>:life-warning` / `:life-limit` for every configured counter component
/// whose counter is good now; `used` gives its life used (`counters.rs`) at the frame's counter
/// value, `unit_of` a signal's unit.
pub fn counter_conditions(
    f: &Frame,
    components: &[Component],
    used: impl Fn(&Component, f64) -> f64,
    unit_of: impl Fn(&str) -> String,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for c in components {
        let Some(used) = f.num(&c.signal).map(|v| used(c, v)) else {
            continue;
        };
        let unit = unit_of(&c.signal);
        let source = format!(
            "component life levels in the agent configuration ({})",
            c.signal
        );
        out.push(Condition {
            key: format!("component:{}:life-warning", c.name),
            active: used >= c.warning && used < c.limit,
            severity: Severity::Warning,
            message: format!(
                "{}: {used:.1} {unit} used, warning at {:.1}, limit {:.1}",
                c.name, c.warning, c.limit
            ),
            source: source.clone(),
        });
        out.push(Condition {
            key: format!("component:{}:life-limit", c.name),
            active: used >= c.limit,
            severity: Severity::Critical,
            message: format!(
                "{}: {used:.1} {unit} used, limit {:.1} reached",
                c.name, c.limit
            ),
            source,
        });
    }
    out
}

/// `component:<name>:remaining-warning` / `:remaining-limit` from predicted remaining life:
/// the P10 of `remaining_h` (the cautious end: one in ten such parts fails sooner) below
/// `warning_h` / `limit_h` (`[life.components] remaining_warning_h`, `remaining_limit_h`).
/// Components without a prediction report nothing (no verdict without a figure).
pub fn predicted_component_conditions(
    views: &[super::components::ComponentView],
    warning_h: Option<f64>,
    limit_h: Option<f64>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for v in views {
        let (Some(q), Some(method)) = (v.remaining_h, v.remaining_method.as_deref()) else {
            continue;
        };
        let basis = v.remaining_h_basis.as_deref().unwrap_or("h");
        let source =
            format!("predicted remaining life ({method}) against [life.components] levels");
        let p10 = q.p10;
        if let Some(w) = warning_h {
            out.push(Condition {
                key: format!("component:{}:remaining-warning", v.name),
                active: p10 < w && limit_h.is_none_or(|l| p10 >= l),
                severity: Severity::Warning,
                message: format!(
                    "{}: predicted remaining life P10 {p10:.0} h ({basis}), warning below {w:.0} h",
                    v.name
                ),
                source: source.clone(),
            });
        }
        if let Some(l) = limit_h {
            out.push(Condition {
                key: format!("component:{}:remaining-limit", v.name),
                active: p10 < l,
                severity: Severity::Critical,
                message: format!(
                    "{}: predicted remaining life P10 {p10:.0} h ({basis}) below the limit {l:.0} h; plan the replacement",
                    v.name
                ),
                source,
            });
        }
    }
    out
}

/// `tool:<id>:predicted-warning` / `:predicted-limit` for the tool in the spindle: the P10 of
/// its predicted remaining minutes of cutting (the cautious end: one tool in ten goes sooner)
/// below `warning_min` / `limit_min`. Without a prediction, nothing (no verdict without a
/// figure); a tool change makes the keys vanish, which clears the alarms.
pub fn predicted_tool_conditions(
    id: &str,
    prediction: Option<&Prediction>,
    warning_min: Option<f64>,
    limit_min: Option<f64>,
) -> Vec<Condition> {
    let Some(p) = prediction else {
        return Vec::new();
    };
    let p10 = p.remaining_min.p10;
    let source = format!(
        "predicted remaining tool life ({}) against [life] tool_remaining levels",
        if p.from_own_lifetimes() {
            "this machine's tool lifetimes"
        } else {
            "wear model"
        }
    );
    let mut out = Vec::new();
    if let Some(w) = warning_min {
        out.push(Condition {
            key: format!("tool:{id}:predicted-warning"),
            active: p10 < w && limit_min.is_none_or(|l| p10 >= l),
            severity: Severity::Warning,
            message: format!(
                "tool {id}: predicted remaining life P10 {p10:.1} min of cutting, warning below {w:.1} min; prepare a tool"
            ),
            source: source.clone(),
        });
    }
    if let Some(l) = limit_min {
        out.push(Condition {
            key: format!("tool:{id}:predicted-limit"),
            active: p10 < l,
            severity: Severity::Critical,
            message: format!(
                "tool {id}: predicted remaining life P10 {p10:.1} min of cutting, below the limit {l:.1} min; change the tool"
            ),
            source,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluators::life::counters::CounterLife;
    use crate::value::Value;

    /// A frame of these values, the way the state's good values make one.
    fn frame(values: &[(&'static str, Value)]) -> Frame {
        Frame::from_values(0, values.iter().cloned())
    }

    fn active(cs: &[Condition]) -> Vec<String> {
        cs.iter()
            .filter(|c| c.active)
            .map(|c| c.key.clone())
            .collect()
    }

    #[test]
    fn warning_then_limit_then_a_new_tool() {
        assert!(
            tool_conditions(&frame(&[])).is_empty(),
            "no values yet: no verdict"
        );
        let mut v = vec![
            ("tool.id", Value::Text("T1".into())),
            ("tool.life_warning", Value::Number(12.0)),
            ("tool.life_limit", Value::Number(15.0)),
            ("tool.life_value", Value::Number(11.9)),
        ];
        assert!(active(&tool_conditions(&frame(&v))).is_empty());
        v[3].1 = Value::Number(12.0);
        assert_eq!(
            active(&tool_conditions(&frame(&v))),
            vec!["tool:T1:life-warning"]
        );
        v[3].1 = Value::Number(15.5);
        let c = tool_conditions(&frame(&v));
        assert_eq!(active(&c), vec!["tool:T1:life-limit"]);
        assert_eq!(c[1].severity, Severity::Critical);
        v[0].1 = Value::Text("T2".into());
        v[3].1 = Value::Number(0.0);
        let c = tool_conditions(&frame(&v));
        assert!(c.iter().all(|c| c.key.starts_with("tool:T2:")) && active(&c).is_empty());
    }

    #[test]
    fn component_life_counts_from_the_last_reset() {
        let comps = vec![Component {
            name: "pump".into(),
            signal: "mql.pump_operating_time".into(),
            warning: 100.0,
            limit: 120.0,
        }];
        let f = frame(&[("mql.pump_operating_time", Value::Number(130.0))]);
        let unit = |_: &str| "h".to_string();
        let from = |life: CounterLife| move |_: &Component, v: f64| life.used_at(v);
        assert_eq!(
            active(&counter_conditions(
                &f,
                &comps,
                from(CounterLife::default()),
                unit
            )),
            vec!["component:pump:life-limit"]
        );
        let reset = CounterLife::new(20.0, 0.0);
        assert_eq!(
            active(&counter_conditions(&f, &comps, from(reset), unit)),
            vec!["component:pump:life-warning"]
        );
        let reset = CounterLife::new(130.0, 0.0);
        assert!(active(&counter_conditions(&f, &comps, from(reset), unit)).is_empty());
        // Reset at the device after 125 h: the warning stays on, it does not fall silent.
        let at_device = CounterLife::new(0.0, 125.0);
        let f = frame(&[("mql.pump_operating_time", Value::Number(0.5))]);
        assert_eq!(
            active(&counter_conditions(&f, &comps, from(at_device), unit)),
            vec!["component:pump:life-limit"]
        );
    }

    #[test]
    fn predicted_tool_life_warns_then_reaches_the_limit() {
        let at = |p10: f64| Prediction {
            at_ms: 0,
            after_cut: 1,
            cutting_min: 10.0,
            vb: None,
            vb_unit: String::new(),
            limit: None,
            remaining_min: models::Quantiles {
                p10,
                p50: p10 + 5.0,
                p90: p10 + 10.0,
            },
            remaining_cuts: models::Quantiles {
                p10: 1.0,
                p50: 2.0,
                p90: 3.0,
            },
            class: "c".into(),
            model_file: "store".into(),
            method: String::new(),
            sources: None,
        };
        let cs = |p10: f64| {
            let p = at(p10);
            active(&predicted_tool_conditions(
                "T1",
                Some(&p),
                Some(5.0),
                Some(1.0),
            ))
        };
        assert!(cs(8.0).is_empty());
        assert_eq!(cs(4.0), ["tool:T1:predicted-warning"]);
        assert_eq!(cs(0.5), ["tool:T1:predicted-limit"]);
        assert!(predicted_tool_conditions("T1", None, Some(5.0), Some(1.0)).is_empty());
        assert!(predicted_tool_conditions("T1", Some(&at(0.5)), None, None).is_empty());
        let c = predicted_tool_conditions("T1", Some(&at(0.5)), None, Some(1.0));
        assert!(
            c[0].source.contains("this machine's tool lifetimes"),
            "{}",
            c[0].source
        );
    }
}

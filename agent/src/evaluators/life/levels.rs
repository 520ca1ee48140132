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
use crate::text::Text;

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
    let source = Text::new("tool life setting of the CNC", "数控系统的刀具寿命设定");
    let warn = tool_life_warning(id, value, warning, remaining);
    let over = tool_life_limit(id, value, limit);
    vec![
        Condition {
            key: format!("tool:{id}:life-warning"),
            active: reached(warning) && !reached(limit),
            severity: Severity::Warning,
            message: warn.en,
            message_zh: warn.zh,
            source: source.en.clone(),
            source_zh: source.zh.clone(),
        },
        Condition {
            key: format!("tool:{id}:life-limit"),
            active: reached(limit),
            severity: Severity::Critical,
            message: over.en,
            message_zh: over.zh,
            source: source.en,
            source_zh: source.zh,
        },
    ]
}

fn tool_life_warning(id: &str, value: f64, warning: f64, remaining: f64) -> Text {
    Text::new(
        format!("tool {id}: life {value:.1} min past warning {warning:.1} min; {remaining:.1} min left"),
        format!("刀具 {id}：刀具寿命 {value:.1} min，已过预警值 {warning:.1} min；剩余 {remaining:.1} min"),
    )
}

fn tool_life_limit(id: &str, value: f64, limit: f64) -> Text {
    Text::new(
        format!("tool {id}: life {value:.1} min reached limit {limit:.1} min; change the tool"),
        format!("刀具 {id}：刀具寿命 {value:.1} min，已到极限值 {limit:.1} min；请换刀"),
    )
}

fn counter_warning(name: &str, used: f64, unit: &str, warning: f64, limit: f64) -> Text {
    Text::new(
        format!("{name}: {used:.1} {unit} used, warning at {warning:.1}, limit {limit:.1}"),
        format!("{name}：已使用 {used:.1} {unit}，预警值 {warning:.1}，极限值 {limit:.1}"),
    )
}

fn counter_limit(name: &str, used: f64, unit: &str, limit: f64) -> Text {
    Text::new(
        format!("{name}: {used:.1} {unit} used, limit {limit:.1} reached"),
        format!("{name}：已使用 {used:.1} {unit}，已到极限值 {limit:.1}"),
    )
}

fn component_remaining_warning(name: &str, p10: f64, basis: &str, w: f64) -> Text {
    Text::new(
        format!(
            "{name}: predicted remaining life P10 {p10:.0} h ({basis}), warning below {w:.0} h"
        ),
        format!(
            "{name}：预测剩余寿命 P10 {p10:.0} h（{}），低于 {w:.0} h 预警",
            basis_zh(basis)
        ),
    )
}

fn component_remaining_limit(name: &str, p10: f64, basis: &str, l: f64) -> Text {
    Text::new(
        format!(
            "{name}: predicted remaining life P10 {p10:.0} h ({basis}) below the limit {l:.0} h; plan the replacement"
        ),
        format!(
            "{name}：预测剩余寿命 P10 {p10:.0} h（{}），低于极限值 {l:.0} h；请安排更换",
            basis_zh(basis)
        ),
    )
}

/// What a component's remaining hours count (`ComponentView::remaining_h_basis`).
fn basis_zh(basis: &str) -> String {
    match basis {
        "h" => "小时".into(),
        "spindle_running_h" => "按主轴运转小时计".into(),
        "powered_h" => "按通电小时计".into(),
        other => other.to_string(),
    }
}

fn tool_predicted_warning(id: &str, p10: f64, w: f64) -> Text {
    Text::new(
        format!(
            "tool {id}: predicted remaining life P10 {p10:.1} min of cutting, warning below {w:.1} min; prepare a tool"
        ),
        format!("刀具 {id}：预测剩余切削寿命 P10 {p10:.1} min，低于 {w:.1} min 预警；请准备备用刀具"),
    )
}

fn tool_predicted_limit(id: &str, p10: f64, l: f64) -> Text {
    Text::new(
        format!(
            "tool {id}: predicted remaining life P10 {p10:.1} min of cutting, below the limit {l:.1} min; change the tool"
        ),
        format!("刀具 {id}：预测剩余切削寿命 P10 {p10:.1} min，低于极限值 {l:.1} min；请换刀"),
    )
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
        let source = Text::new(
            format!(
                "component life levels in the agent configuration ({})",
                c.signal
            ),
            format!("代理程序配置中的部件寿命预警值与极限值（{}）", c.signal),
        );
        let warn = counter_warning(&c.name, used, &unit, c.warning, c.limit);
        out.push(Condition {
            key: format!("component:{}:life-warning", c.name),
            active: used >= c.warning && used < c.limit,
            severity: Severity::Warning,
            message: warn.en,
            message_zh: warn.zh,
            source: source.en.clone(),
            source_zh: source.zh.clone(),
        });
        let over = counter_limit(&c.name, used, &unit, c.limit);
        out.push(Condition {
            key: format!("component:{}:life-limit", c.name),
            active: used >= c.limit,
            severity: Severity::Critical,
            message: over.en,
            message_zh: over.zh,
            source: source.en,
            source_zh: source.zh,
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
        let source = Text::new(
            format!("predicted remaining life ({method}) against [life.components] levels"),
            format!("预测剩余寿命（{method}）对照 [life.components] 设定值"),
        );
        let p10 = q.p10;
        if let Some(w) = warning_h {
            let t = component_remaining_warning(&v.name, p10, basis, w);
            out.push(Condition {
                key: format!("component:{}:remaining-warning", v.name),
                active: p10 < w && limit_h.is_none_or(|l| p10 >= l),
                severity: Severity::Warning,
                message: t.en,
                message_zh: t.zh,
                source: source.en.clone(),
                source_zh: source.zh.clone(),
            });
        }
        if let Some(l) = limit_h {
            let t = component_remaining_limit(&v.name, p10, basis, l);
            out.push(Condition {
                key: format!("component:{}:remaining-limit", v.name),
                active: p10 < l,
                severity: Severity::Critical,
                message: t.en,
                message_zh: t.zh,
                source: source.en,
                source_zh: source.zh,
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
    let (basis, basis_zh) = if p.from_own_lifetimes() {
        ("this machine's tool lifetimes", "本机刀具寿命统计")
    } else {
        ("wear model", "刀具磨损模型")
    };
    let source = Text::new(
        format!("predicted remaining tool life ({basis}) against [life] tool_remaining levels"),
        format!("预测剩余刀具寿命（{basis_zh}）对照 [life] tool_remaining 设定值"),
    );
    let mut out = Vec::new();
    if let Some(w) = warning_min {
        let t = tool_predicted_warning(id, p10, w);
        out.push(Condition {
            key: format!("tool:{id}:predicted-warning"),
            active: p10 < w && limit_min.is_none_or(|l| p10 >= l),
            severity: Severity::Warning,
            message: t.en,
            message_zh: t.zh,
            source: source.en.clone(),
            source_zh: source.zh.clone(),
        });
    }
    if let Some(l) = limit_min {
        let t = tool_predicted_limit(id, p10, l);
        out.push(Condition {
            key: format!("tool:{id}:predicted-limit"),
            active: p10 < l,
            severity: Severity::Critical,
            message: t.en,
            message_zh: t.zh,
            source: source.en,
            source_zh: source.zh,
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
        crate::text::check::chinese(
            &Text::new(c[0].source.clone(), c[0].source_zh.clone()),
            &["[life]", "tool_remaining"],
        );
    }

    #[test]
    fn every_life_message_reads_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        let ids = &["T2-0007", "min", "P10"];
        chinese(&tool_life_warning("T2-0007", 12.25, 12.0, 2.75), ids);
        chinese(&tool_life_limit("T2-0007", 15.5, 15.0), ids);
        chinese(&tool_predicted_warning("T2-0007", 4.04, 5.0), ids);
        chinese(&tool_predicted_limit("T2-0007", 0.5, 1.0), ids);
        chinese(
            &counter_warning("pump", 101.26, "h", 100.0, 120.0),
            &["pump", "h"],
        );
        chinese(
            &counter_limit("pump", 130.0, "strokes", 120.0),
            &["pump", "strokes"],
        );
        for basis in ["h", "spindle_running_h", "powered_h"] {
            let units = &["spindle_bearing", "P10", "h"];
            chinese(
                &component_remaining_warning("spindle_bearing", 1800.4, basis, 2000.0),
                units,
            );
            chinese(
                &component_remaining_limit("spindle_bearing", 150.0, basis, 200.0),
                units,
            );
        }
        // The same figures, the same precision.
        let t = tool_life_warning("T1", 12.25, 12.0, 2.75);
        assert!(
            t.zh.contains("12.2 min") && t.zh.contains("2.8 min"),
            "{}",
            t.zh
        );
        assert!(
            t.en.contains("12.2 min") && t.en.contains("2.8 min"),
            "{}",
            t.en
        );
    }
}

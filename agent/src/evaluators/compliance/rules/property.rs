//! `property`: a static property of the lubricant in use, from its data sheet (`[lubricant]`):
//! a number within [min, max], or a value that must equal the profile's.

use super::{fmt_bounds, outside, Context, Judgement, Kind, RuleState};
use crate::config::profile::{PropertyValue, PROPERTIES};
use crate::config::Lubricant;
use crate::text::Text;

pub struct Property {
    pub property: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub equals: Option<PropertyValue>,
}

fn same(a: &PropertyValue, b: &PropertyValue) -> bool {
    match (a, b) {
        (PropertyValue::Bool(x), PropertyValue::Bool(y)) => x == y,
        (PropertyValue::Text(x), PropertyValue::Text(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

impl Kind for Property {
    fn name(&self) -> &'static str {
        "property"
    }

    fn inputs(&self) -> Vec<&str> {
        Vec::new()
    }

    fn monitored(&self, _fed: &std::collections::HashSet<String>, lub: Option<&Lubricant>) -> bool {
        lub.is_some_and(|l| {
            l.number(&self.property).is_some() || l.property(&self.property).is_some()
        })
    }

    fn limit(&self) -> (Text, String) {
        let p = &self.property;
        let text = match &self.equals {
            Some(v) => Text::new(
                format!("{p} = {v}"),
                format!("{} = {}", property_zh(p), value_zh(v)),
            ),
            None => {
                let b = fmt_bounds(self.min, self.max, "");
                Text::new(format!("{p} {b}"), format!("{} {b}", property_zh(p)))
            }
        };
        let unit = PROPERTIES
            .iter()
            .find(|(n, _)| n == p)
            .map_or("", |(_, u)| u);
        (text, unit.to_string())
    }

    fn judge(&mut self, ctx: &Context, limit: &Text) -> Judgement {
        let property = &self.property;
        let Some(lub) = ctx.lubricant else {
            return Judgement::new(
                RuleState::NoData,
                None,
                Text::new(
                    "no [lubricant] in the configuration",
                    "配置中没有 [lubricant] 润滑油数据",
                ),
            );
        };
        let name = &lub.name;
        let pz = property_zh(property);
        let not_given = || {
            Judgement::new(
                RuleState::NoData,
                None,
                Text::new(
                    format!("{name}: {property} not given in [lubricant]"),
                    format!("{name}：[lubricant] 中未给出{pz}"),
                ),
            )
        };
        let is = |have: &str, have_zh: &str| {
            Text::new(
                format!("{name}: {property} = {have}"),
                format!("{name}：{pz} = {have_zh}"),
            )
        };
        if let Some(want) = &self.equals {
            return match lub.property(property) {
                None => not_given(),
                Some(have) if same(&have, want) => {
                    Judgement::new(RuleState::Ok, None, is(&have.to_string(), &value_zh(&have)))
                }
                Some(have) => Judgement::new(
                    RuleState::Violated,
                    None,
                    is(&have.to_string(), &value_zh(&have)).join(
                        (", required ", "，要求为 "),
                        &Text::new(want.to_string(), value_zh(want)),
                    ),
                ),
            };
        }
        match lub.number(property) {
            None => not_given(),
            Some(x) if outside(x, self.min, self.max) => Judgement::new(
                RuleState::Violated,
                Some(x),
                is(&x.to_string(), &x.to_string()).join((", limit ", "，超出限值 "), limit),
            ),
            Some(x) => Judgement::new(RuleState::Ok, Some(x), is(&x.to_string(), &x.to_string())),
        }
    }
}

/// The data sheet's properties ([`PROPERTIES`]) as a lubricant data sheet names them in Chinese.
fn property_zh(p: &str) -> String {
    match p {
        "flash_point_c" => "闪点 (°C)".into(),
        "evaporation_loss_pct" => "蒸发损失 (%)".into(),
        "viscosity_40c_mm2_s" => "40 °C 运动黏度 (mm2/s)".into(),
        "benzo_a_pyrene_ppm" => "苯并芘含量 (ppm)".into(),
        "biocides" => "含杀菌剂".into(),
        "base_oil" => "基础油".into(),
        other => other.to_string(),
    }
}

fn value_zh(v: &PropertyValue) -> String {
    match v {
        PropertyValue::Bool(true) => "是".into(),
        PropertyValue::Bool(false) => "否".into(),
        PropertyValue::Text(t) => match t.to_lowercase().as_str() {
            "ester" => "酯类".into(),
            "mineral" => "矿物油".into(),
            "vegetable" => "植物油".into(),
            "synthetic" => "合成油".into(),
            _ => t.clone(),
        },
    }
}

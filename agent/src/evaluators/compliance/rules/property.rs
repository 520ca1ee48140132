//! `property`: a static property of the lubricant in use, from its data sheet (`[lubricant]`):
//! a number within [min, max], or a value that must equal the profile's.

use super::{fmt_bounds, outside, Context, Judgement, Kind, RuleState};
use crate::config::profile::{PropertyValue, PROPERTIES};
use crate::config::Lubricant;

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

    fn limit(&self) -> (String, String) {
        let p = &self.property;
        let text = match &self.equals {
            Some(PropertyValue::Bool(b)) => format!("{p} = {b}"),
            Some(PropertyValue::Text(t)) => format!("{p} = {t}"),
            None => format!("{p} {}", fmt_bounds(self.min, self.max, "")),
        };
        let unit = PROPERTIES
            .iter()
            .find(|(n, _)| n == p)
            .map_or("", |(_, u)| u);
        (text, unit.to_string())
    }

    fn judge(&mut self, ctx: &Context, limit: &str) -> Judgement {
        let property = &self.property;
        let Some(lub) = ctx.lubricant else {
            return Judgement::new(
                RuleState::NoData,
                None,
                "no [lubricant] in the configuration".into(),
            );
        };
        let name = &lub.name;
        let not_given = || {
            Judgement::new(
                RuleState::NoData,
                None,
                format!("{name}: {property} not given in [lubricant]"),
            )
        };
        if let Some(want) = &self.equals {
            return match lub.property(property) {
                None => not_given(),
                Some(have) if same(&have, want) => {
                    Judgement::new(RuleState::Ok, None, format!("{name}: {property} = {have}"))
                }
                Some(have) => Judgement::new(
                    RuleState::Violated,
                    None,
                    format!("{name}: {property} = {have}, required {want}"),
                ),
            };
        }
        match lub.number(property) {
            None => not_given(),
            Some(x) if outside(x, self.min, self.max) => Judgement::new(
                RuleState::Violated,
                Some(x),
                format!("{name}: {property} = {x}, limit {limit}"),
            ),
            Some(x) => Judgement::new(RuleState::Ok, Some(x), format!("{name}: {property} = {x}")),
        }
    }
}

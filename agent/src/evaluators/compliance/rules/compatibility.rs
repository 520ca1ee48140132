//! `compatibility`: the tool's cutting material and coating against the workpiece's ISO 513
//! group and hardness, from `deny` and `require` tables.

use super::{Context, Judgement, Kind, RuleState};
use crate::config::profile::Pairing;

pub struct Compatibility {
    pub deny: Vec<Pairing>,
    pub require: Vec<Pairing>,
}

struct Tool {
    material: String,
    coating: String,
    group: String,
    hardness: Option<f64>,
}

fn any_of(list: &[String], v: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x.eq_ignore_ascii_case(v))
}

impl Tool {
    fn workpiece_matches(&self, p: &Pairing) -> bool {
        any_of(&p.workpiece_group, &self.group)
            && p.min_hardness_hrc
                .is_none_or(|h| self.hardness.is_some_and(|x| x >= h))
    }

    fn denied_by(&self, p: &Pairing) -> bool {
        self.workpiece_matches(p)
            && any_of(&p.tool_material, &self.material)
            && any_of(&p.coating, &self.coating)
    }

    fn misses(&self, p: &Pairing) -> bool {
        self.workpiece_matches(p)
            && any_of(&p.for_tool_material, &self.material)
            && !(any_of(&p.tool_material, &self.material) && any_of(&p.coating, &self.coating))
    }
}

impl Kind for Compatibility {
    fn name(&self) -> &'static str {
        "compatibility"
    }

    fn inputs(&self) -> Vec<&str> {
        vec!["tool.material", "workpiece.material_group"]
    }

    fn limit(&self) -> (String, String) {
        let mut parts: Vec<String> = self
            .deny
            .iter()
            .map(|p| format!("not: {}", p.reason))
            .collect();
        parts.extend(self.require.iter().map(|p| p.reason.clone()));
        (parts.join("; "), String::new())
    }

    fn judge(&mut self, ctx: &Context, _limit: &str) -> Judgement {
        let f = ctx.frame;
        let (Some(material), Some(group)) =
            (f.text("tool.material"), f.text("workpiece.material_group"))
        else {
            return Judgement::new(
                RuleState::NoData,
                None,
                "tool material or workpiece group unknown".into(),
            );
        };
        let tool = Tool {
            material: material.to_lowercase(),
            coating: f.text("tool.coating").unwrap_or("none").to_lowercase(),
            group: group.to_uppercase(),
            hardness: f.num("workpiece.hardness"),
        };
        let who = format!(
            "{} {} on {} (group {})",
            tool.material,
            tool.coating,
            f.text("workpiece.material").unwrap_or("?"),
            tool.group
        );
        if let Some(p) = self.deny.iter().find(|p| tool.denied_by(p)) {
            return Judgement::new(RuleState::Violated, None, format!("{who}: {}", p.reason));
        }
        if let Some(p) = self.require.iter().find(|p| tool.misses(p)) {
            return Judgement::new(RuleState::Violated, None, format!("{who}: {}", p.reason));
        }
        Judgement::new(RuleState::Ok, None, format!("{who}: compatible"))
    }
}

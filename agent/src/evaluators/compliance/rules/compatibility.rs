//! `compatibility`: the tool's cutting material and coating against the workpiece's ISO 513
//! group and hardness, from `deny` and `require` tables.

use super::{Context, Judgement, Kind, RuleState};
use crate::config::profile::Pairing;
use crate::text::Text;

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

    fn limit(&self) -> (Text, String) {
        let mut en: Vec<String> = self
            .deny
            .iter()
            .map(|p| format!("not: {}", p.reason))
            .collect();
        en.extend(self.require.iter().map(|p| p.reason.clone()));
        let mut zh: Vec<String> = self
            .deny
            .iter()
            .map(|p| format!("禁止：{}", p.reason_zh))
            .collect();
        zh.extend(self.require.iter().map(|p| p.reason_zh.clone()));
        (Text::new(en.join("; "), zh.join("；")), String::new())
    }

    fn judge(&mut self, ctx: &Context, _limit: &Text) -> Judgement {
        let f = ctx.frame;
        let (Some(material), Some(group)) =
            (f.text("tool.material"), f.text("workpiece.material_group"))
        else {
            return Judgement::new(
                RuleState::NoData,
                None,
                Text::new(
                    "tool material or workpiece group unknown",
                    "刀具材料或工件材料组未知",
                ),
            );
        };
        let tool = Tool {
            material: material.to_lowercase(),
            coating: f.text("tool.coating").unwrap_or("none").to_lowercase(),
            group: group.to_uppercase(),
            hardness: f.num("workpiece.hardness"),
        };
        let who = who(&tool, f.text("workpiece.material").unwrap_or("?"));
        let why = |p: &Pairing| Text::new(p.reason.clone(), p.reason_zh.clone());
        if let Some(p) = self.deny.iter().find(|p| tool.denied_by(p)) {
            return Judgement::new(RuleState::Violated, None, who.join((": ", "："), &why(p)));
        }
        if let Some(p) = self.require.iter().find(|p| tool.misses(p)) {
            return Judgement::new(RuleState::Violated, None, who.join((": ", "："), &why(p)));
        }
        Judgement::new(
            RuleState::Ok,
            None,
            who.join((": ", "："), &Text::new("compatible", "匹配")),
        )
    }
}

/// The tool and the workpiece, e.g. `carbide none on C45 (group P)`; the workpiece's material
/// is the shop's own name for it, quoted.
fn who(tool: &Tool, workpiece: &str) -> Text {
    Text::new(
        format!(
            "{} {} on {workpiece} (group {})",
            tool.material, tool.coating, tool.group
        ),
        format!(
            "{}{} 加工 {workpiece}（材料组 {}）",
            material_zh(&tool.material),
            coating_zh(&tool.coating),
            tool.group
        ),
    )
}

/// Cutting materials (`tool.material`) as the shop floor names them; others as given.
fn material_zh(m: &str) -> String {
    match m {
        "carbide" => "硬质合金".into(),
        "hss" => "高速钢".into(),
        "cermet" => "金属陶瓷".into(),
        "ceramic" => "陶瓷".into(),
        "pcd" => "聚晶金刚石 (PCD)".into(),
        "pcbn" => "立方氮化硼 (PCBN)".into(),
        other => other.to_string(),
    }
}

/// A coating is named by its chemistry (TiAlN, AlCrN), the same in both; none is said.
fn coating_zh(c: &str) -> String {
    let name = match c {
        "none" | "" => return "（无涂层）".into(),
        "diamond" => "金刚石",
        "tialn" => "TiAlN",
        "altin" => "AlTiN",
        "alcrn" => "AlCrN",
        "tin" => "TiN",
        "ticn" => "TiCN",
        "dlc" => "DLC",
        other => other,
    };
    format!(" {name} 涂层")
}

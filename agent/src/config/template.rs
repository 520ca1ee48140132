//! Webhook body templates (`{"text": "{{severity}}: {{message}}"}`): checked when the
//! configuration is read, not at 3 a.m. when the first alarm needs one, and filled in by the
//! webhook channel for each event.

use serde_json::Value as Json;

/// Fields of an alarm event a template can use.
pub const FIELDS: &[&str] = &[
    "machine_id",
    "key",
    "state",
    "previous",
    "severity",
    "message",
    "message_zh",
    "source",
    "source_zh",
    "cause",
    "cause_zh",
    "by",
    "tier",
    "ts_ms",
];

/// A template, split into literal text and the fields between.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(&'static str),
}

impl Template {
    /// Parses a template: it may name only known fields, and with values that need escaping
    /// (quotes, a backslash, a newline) it must still give valid JSON.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            parts.push(Part::Text(rest[..start].to_string()));
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "`{{` without `}}`".to_string())?;
            let name = after[..end].trim();
            let field = FIELDS.iter().find(|f| **f == name).ok_or_else(|| {
                format!(
                    "unknown field `{{{{{name}}}}}` (fields: {})",
                    FIELDS.join(", ")
                )
            })?;
            parts.push(Part::Field(field));
            rest = &after[end + 2..];
        }
        parts.push(Part::Text(rest.to_string()));
        let t = Template { parts };
        let sample: serde_json::Map<String, Json> = FIELDS
            .iter()
            .map(|f| {
                let v: Json = match *f {
                    "tier" | "ts_ms" => 0.into(),
                    _ => "a \"quoted\" \\ message\nwith a newline".into(),
                };
                (f.to_string(), v)
            })
            .collect();
        serde_json::from_str::<Json>(&t.render(&Json::Object(sample)))
            .map_err(|e| format!("does not give valid JSON: {e}"))?;
        Ok(t)
    }

    /// The body for an event given as a JSON object: each field's value JSON-escaped, without
    /// quotes, so that the template decides the JSON around it.
    pub fn render(&self, event: &Json) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    let text = match &event[*f] {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let quoted = Json::String(text).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_values_and_name_unknown_fields() {
        let t = Template::parse(
            r#"{"text": "{{severity}} on {{machine_id}}: {{message}} (tier {{tier}})"}"#,
        )
        .unwrap();
        let body = t.render(&serde_json::json!({
            "severity": "warning", "machine_id": "m", "message": "say \"hi\"", "tier": 1
        }));
        assert_eq!(body, r#"{"text": "warning on m: say \"hi\" (tier 1)"}"#);
        let e = Template::parse(r#"{"text": "{{mesage}}"}"#).unwrap_err();
        assert!(e.contains("unknown field `{{mesage}}`"), "{e}");
        let e = Template::parse(r#"{"text": {{message}}}"#).unwrap_err();
        assert!(e.contains("valid JSON"), "{e}");
    }
}

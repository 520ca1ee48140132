//! Texts for people, in the two languages the page offers: English (`message`, what existing
//! API users read) and Simplified Chinese (`message_zh`, what the machinist on a Chinese shop
//! floor reads). One function builds both from the same numbers, so the two can never say
//! different things; numbers, units and identifiers (tool ids, signal and device names) are
//! the same characters in both.

/// One text in English and in Simplified Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Text {
        Text {
            en: en.into(),
            zh: zh.into(),
        }
    }

    /// The same text in both (an identifier, a number, an error a device gave in its own words).
    pub fn same(s: impl Into<String>) -> Text {
        let s = s.into();
        Text {
            en: s.clone(),
            zh: s,
        }
    }

    /// `self`, then `sep`, then `other`, in each language.
    pub fn join(&self, sep: (&str, &str), other: &Text) -> Text {
        Text {
            en: format!("{}{}{}", self.en, sep.0, other.en),
            zh: format!("{}{}{}", self.zh, sep.1, other.zh),
        }
    }
}

/// What the tests of every message kind check of its Chinese text: it carries exactly the
/// numbers of the English one, and no English word (an ASCII letter) except in the
/// identifiers and units the caller names.
#[cfg(test)]
pub mod check {
    use super::Text;

    /// The numbers in a text, in order (`-` kept only when it starts a number after a non-digit).
    pub fn numbers(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() || (c == '.' && !cur.is_empty()) {
                cur.push(c);
            } else if !cur.is_empty() {
                out.push(cur.trim_end_matches('.').to_string());
                cur.clear();
            }
        }
        if !cur.is_empty() {
            out.push(cur.trim_end_matches('.').to_string());
        }
        out
    }

    /// Panics unless `t.zh` has the numbers of `t.en` (as a multiset: Chinese may put them in
    /// another order) and no ASCII letter outside `allowed` (identifiers, units).
    pub fn chinese(t: &Text, allowed: &[&str]) {
        let (mut en, mut zh) = (numbers(&t.en), numbers(&t.zh));
        en.sort();
        zh.sort();
        assert_eq!(en, zh, "numbers differ:\n  en: {}\n  zh: {}", t.en, t.zh);
        let mut rest = t.zh.clone();
        let mut allowed: Vec<&str> = allowed.to_vec();
        // Longest first, so `mql.oil_flow` goes before `ml`.
        allowed.sort_by_key(|a| std::cmp::Reverse(a.len()));
        for a in allowed {
            rest = without_word(&rest, a);
        }
        assert!(
            !rest.chars().any(|c| c.is_ascii_alphabetic()),
            "English left in the Chinese text: {:?} (of {:?})",
            rest,
            t.zh
        );
        assert!(
            t.zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "no Chinese at all: {}",
            t.zh
        );
    }

    /// `s` without each occurrence of `word` that stands alone (no ASCII letter right before or
    /// after it: the unit `s` is allowed, the `s` of an English word is not).
    fn without_word(s: &str, word: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find(word) {
            let before = if i == 0 {
                out.chars().last()
            } else {
                rest[..i].chars().last()
            };
            let after = rest[i + word.len()..].chars().next();
            let letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
            out.push_str(&rest[..i]);
            if letter(before) || letter(after) {
                out.push_str(word);
            } else {
                out.push(' ');
            }
            rest = &rest[i + word.len()..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn the_check_catches_a_lost_number_and_an_english_word() {
        chinese(
            &Text::new("tool T1: 3.5 min left", "刀具 T1：剩余 3.5 min"),
            &["T1", "min"],
        );
        let lost = std::panic::catch_unwind(|| {
            chinese(&Text::new("3.5 of 4", "4 中的"), &[]);
        });
        assert!(lost.is_err());
        let english = std::panic::catch_unwind(|| {
            chinese(&Text::new("tool 4", "tool 4 刀具"), &[]);
        });
        assert!(english.is_err());
        // A unit allowed alone does not excuse the same letters inside a word.
        chinese(&Text::new("for 5 s", "持续 5 s"), &["s"]);
        let inside = std::panic::catch_unwind(|| {
            chinese(&Text::new("5 s", "5 secs 秒"), &["s"]);
        });
        assert!(inside.is_err());
    }
}

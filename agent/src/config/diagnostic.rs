//! Problems found in a configuration file, each with the place it was found.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem found in one file. `Display` prints one `file:line:column: message` per line,
/// the form editors and CI logs link to.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.column,
                p.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while a file is checked, turning byte spans into lines and columns.
pub struct Diagnostics<'a> {
    file: &'a Path,
    source: &'a str,
    problems: Vec<Problem>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Diagnostics {
            file,
            source,
            problems: Vec::new(),
        }
    }

    /// Records a problem at a byte span of the source.
    pub fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.source, span.start);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }

    /// A number that must be greater than 0: `None` when absent or not (the problem is
    /// recorded, and the caller goes on with its default). NaN is not greater than 0.
    pub fn positive<T>(&mut self, v: Option<&toml::Spanned<T>>, what: &str) -> Option<T>
    where
        T: Copy + PartialOrd + Default + std::fmt::Display,
    {
        let v = v?;
        let x = *v.get_ref();
        if x > T::default() {
            Some(x)
        } else {
            self.at(v.span(), format!("{what} must be greater than 0 (got {x})"));
            None
        }
    }

    pub fn into_result<T>(mut self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            self.problems.sort_by_key(|p| (p.line, p.column));
            Err(ConfigError {
                file: self.file.to_path_buf(),
                problems: self.problems,
            })
        }
    }
}

/// Reads a file the configuration names (the configuration itself, a profile, a table).
pub fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        }],
    })
}

/// Parses TOML text into `T`; a syntax or type error names its line and column.
pub fn toml<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
        ConfigError {
            file: file.to_path_buf(),
            problems: vec![Problem {
                line,
                column,
                message: e.message().trim().to_string(),
            }],
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let s = "a = 1\nbé = 2\n";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 6), (2, 1));
        assert_eq!(line_column(s, s.find('=').unwrap()), (1, 3));
        assert_eq!(line_column(s, s.rfind('=').unwrap()), (2, 4));
    }
}

//! A request field or command-line argument that is wrong, named, so that whoever sent it can
//! see which one: the command line says `--from`, the API answers 400 with `"field": "from_ms"`.

/// A bad field, with what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct BadField {
    pub field: String,
    pub message: String,
}

impl BadField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> BadField {
        BadField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BadField {}

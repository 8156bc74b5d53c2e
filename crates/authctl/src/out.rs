//! Output styling: ANSI colour on a terminal (unless `NO_COLOR`), plain text when piped.

use std::io::IsTerminal as _;

/// How to style output.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    color: bool,
}

impl Out {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    pub fn detect() -> Self {
        Self {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A field name or heading.
    pub fn key(&self, text: &str) -> String {
        self.paint("1;36", text)
    }

    /// A positive answer.
    pub fn good(&self, text: &str) -> String {
        self.paint("1;32", text)
    }

    /// A negative answer.
    pub fn bad(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// A warning.
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// A side note.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

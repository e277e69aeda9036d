//! Styles as data: [`Styles::plain`] paints nothing, [`Styles::colored`] is chosen once when colour is allowed
//! (a terminal, no `NO_COLOR`, no `--json`, no `--color never`). Renderers only ever call these painters.

use std::fmt::Display;

use owo_colors::{OwoColorize, Style};

/// The look of one output stream: its palette, and whether it is a terminal (tables get borders there).
#[derive(Debug, Clone, Copy)]
pub struct Styles {
    terminal: bool,
    ok: Style,
    bad: Style,
    warn: Style,
    accent: Style,
    dim: Style,
    bold: Style,
}

impl Styles {
    /// No colour, no escape codes.
    pub fn plain() -> Self {
        Self {
            terminal: false,
            ok: Style::new(),
            bad: Style::new(),
            warn: Style::new(),
            accent: Style::new(),
            dim: Style::new(),
            bold: Style::new(),
        }
    }

    /// The coloured palette.
    pub fn colored() -> Self {
        Self {
            terminal: false,
            ok: Style::new().green().bold(),
            bad: Style::new().red().bold(),
            warn: Style::new().yellow(),
            accent: Style::new().cyan(),
            dim: Style::new().dimmed(),
            bold: Style::new().bold(),
        }
    }

    /// Plain or coloured, for a stream that is or is not a terminal.
    pub fn new(color: bool, terminal: bool) -> Self {
        let styles = if color {
            Self::colored()
        } else {
            Self::plain()
        };
        Self { terminal, ..styles }
    }

    /// A table: borders on a terminal, plain aligned columns otherwise.
    pub fn table(&self, header: &[&str]) -> comfy_table::Table {
        let mut table = comfy_table::Table::new();
        if self.terminal {
            table.load_preset(comfy_table::presets::UTF8_HORIZONTAL_ONLY);
        } else {
            table.load_preset(comfy_table::presets::NOTHING);
            table.force_no_tty();
        }
        table.set_header(header.iter().map(|h| h.to_uppercase()));
        if !self.terminal {
            // Plain columns for scripts: flush left, two spaces apart.
            for column in table.column_iter_mut() {
                column.set_padding((0, 2));
            }
        }
        table
    }

    /// A table's text without the padding that trails each line.
    pub fn render(table: &comfy_table::Table) -> String {
        table
            .lines()
            .map(|line| line.trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Success.
    pub fn ok(&self, text: impl Display) -> String {
        paint(self.ok, text)
    }

    /// Failure.
    pub fn bad(&self, text: impl Display) -> String {
        paint(self.bad, text)
    }

    /// Something to notice.
    pub fn warn(&self, text: impl Display) -> String {
        paint(self.warn, text)
    }

    /// Names and ids.
    pub fn accent(&self, text: impl Display) -> String {
        paint(self.accent, text)
    }

    /// Secondary detail.
    pub fn dim(&self, text: impl Display) -> String {
        paint(self.dim, text)
    }

    /// Emphasis.
    pub fn bold(&self, text: impl Display) -> String {
        paint(self.bold, text)
    }
}

fn paint(style: Style, text: impl Display) -> String {
    if style.is_plain() {
        text.to_string()
    } else {
        text.style(style).to_string()
    }
}

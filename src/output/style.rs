//! Styles as data: [`Styles::plain`] paints nothing, [`Styles::colored`] is chosen once when colour is allowed
//! (a terminal, no `NO_COLOR`, no `--json`, no `--color never`). Renderers only ever call these painters.

use std::fmt::Display;

use owo_colors::{OwoColorize, Style};

/// The look of one output stream: its palette, and whether it is a terminal (tables get borders there).
#[derive(Debug, Clone, Copy)]
pub struct Styles {
    terminal: bool,
    color: bool,
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
            color: false,
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
            color: true,
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

    /// A table: on a terminal, a rule under the header only, fitted to the terminal's width (cells that do not
    /// fit are cut to one line ending in `…`); plain aligned columns otherwise. Colour a cell with
    /// [`Styles::cell`], never with escape codes in its text: they would count as width.
    pub fn table(&self, header: &[&str]) -> comfy_table::Table {
        use comfy_table::TableComponent as C;
        let mut table = comfy_table::Table::new();
        if self.terminal {
            table.load_preset(comfy_table::presets::UTF8_HORIZONTAL_ONLY);
            for rule in [
                C::HorizontalLines,
                C::LeftBorderIntersections,
                C::RightBorderIntersections,
                C::MiddleIntersections,
                C::TopBorder,
                C::TopBorderIntersections,
                C::BottomBorder,
                C::BottomBorderIntersections,
            ] {
                table.remove_style(rule);
            }
            table
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_truncation_indicator("…");
            if self.color {
                table.enforce_styling();
            }
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

    /// A table cell painted with one of the palette's tones (plain without colour).
    pub fn cell(&self, text: impl Display, tone: Tone) -> comfy_table::Cell {
        use comfy_table::{Attribute, Color};
        let cell = comfy_table::Cell::new(text);
        if !self.color {
            return cell;
        }
        match tone {
            Tone::Ok => cell.fg(Color::Green).add_attribute(Attribute::Bold),
            Tone::Bad => cell.fg(Color::Red).add_attribute(Attribute::Bold),
            Tone::Warn => cell.fg(Color::Yellow),
            Tone::Plain => cell,
        }
    }

    /// A table's text without the padding that trails each line. On a terminal a row takes one line and the
    /// table fits the terminal's width: every column keeps its content's width but the widest (the error),
    /// which is cut with `…`; when even that does not fit, columns are dropped from the right (never the
    /// first, the run id).
    pub fn render(table: &comfy_table::Table) -> String {
        let columns = table.column_max_content_widths().len();
        Self::render_dropping(table, &(1..columns).rev().collect::<Vec<_>>())
    }

    /// [`Styles::render`], dropping the columns that do not fit in the order of `drop` (column indexes).
    pub fn render_dropping(table: &comfy_table::Table, drop: &[usize]) -> String {
        let mut table = table.clone();
        for row in table.row_iter_mut() {
            row.max_height(1);
        }
        if let Some(width) = table.width() {
            fit(&mut table, usize::from(width), drop);
        }
        text(&table)
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

fn text(table: &comfy_table::Table) -> String {
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The columns a terminal sees of `text`: escape sequences take none, every other character one.
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters… final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if !c.is_control() {
            width += 1;
        }
    }
    width
}

/// Fits a terminal table into `width` columns (see [`Styles::render`]).
fn fit(table: &mut comfy_table::Table, width: usize, drop: &[usize]) {
    use comfy_table::{ColumnConstraint, Width};
    let widths = table.column_max_content_widths();
    // The error column gives way first, else the widest.
    let error = table.header().and_then(|header| {
        header
            .cell_iter()
            .position(|cell| cell.content().contains("ERROR"))
    });
    let widest = widths
        .iter()
        .enumerate()
        .max_by_key(|&(i, w)| (*w, std::cmp::Reverse(i)))
        .map(|(i, _)| i);
    let Some(flex) = error.or(widest) else {
        return;
    };
    let fits = |table: &comfy_table::Table| {
        table
            .lines()
            .all(|line| visible_width(line.trim_end()) <= width)
    };
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_constraint(if i == flex {
            ColumnConstraint::LowerBoundary(Width::Fixed(widths[i].min(12)))
        } else {
            ColumnConstraint::ContentWidth
        });
    }
    let mut droppable = drop.iter().copied().filter(|&i| i != flex && i != 0);
    while !fits(table) {
        let Some(drop) = droppable.next() else {
            // Still too wide: let the table squeeze every column.
            for column in table.column_iter_mut() {
                if !column.is_hidden() {
                    column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(4)));
                }
            }
            return;
        };
        if let Some(column) = table.column_mut(drop) {
            column.set_constraint(ColumnConstraint::Hidden);
        }
    }
}

/// The tone of a table cell ([`Styles::cell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Success.
    Ok,
    /// Failure.
    Bad,
    /// Something to notice.
    Warn,
    /// No colour.
    Plain,
}

fn paint(style: Style, text: impl Display) -> String {
    if style.is_plain() {
        text.to_string()
    } else {
        text.style(style).to_string()
    }
}

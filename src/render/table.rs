//! The one table writer: each column as wide as its widest cell, as aligned text or Markdown.

/// Where a column's cells sit: names to the left, numbers to the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table's headings and rows; a row may stop short, leaving its last cells blank.
#[derive(Debug, Clone)]
pub struct Table {
    indent: &'static str,
    headings: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

/// The space between two columns.
const GAP: &str = "  ";

impl Table {
    /// A table whose lines start with `indent`.
    pub fn new(indent: &'static str, headings: &[(&str, Align)]) -> Table {
        let headings = (headings.iter()).map(|&(h, a)| (h.to_owned(), a)).collect();
        Table {
            indent,
            headings,
            rows: Vec::new(),
        }
    }

    /// Adds a row of at most one cell per heading.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert!(cells.len() <= self.headings.len(), "{cells:?}");
        self.rows.push(cells);
    }

    /// Aligned text, a line per row under the headings, no trailing spaces.
    pub fn text(&self) -> String {
        let cell = |row: &[String], i: usize| row.get(i).map_or(0, |c| c.chars().count());
        let widths: Vec<usize> = (self.headings.iter().enumerate())
            .map(|(i, (heading, _))| {
                let widest = self.rows.iter().map(|r| cell(r, i)).max().unwrap_or(0);
                widest.max(heading.chars().count())
            })
            .collect();
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = (cells.zip(&self.headings).zip(&widths))
                .map(|((c, (_, align)), &w)| match align {
                    Align::Left => format!("{c:<w$}"),
                    Align::Right => format!("{c:>w$}"),
                })
                .collect();
            format!("{}{}", self.indent, padded.join(GAP))
                .trim_end()
                .to_owned()
                + "\n"
        };
        let mut out = line(&mut self.headings.iter().map(|(h, _)| h.as_str()));
        for row in &self.rows {
            out += &line(&mut row.iter().map(String::as_str));
        }
        out
    }

    /// A Markdown table, every row as wide as the headings.
    pub fn markdown(&self) -> String {
        let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.headings.iter().map(|(h, _)| h.as_str()).collect());
        out += &format!("|{}\n", " --- |".repeat(self.headings.len()));
        for row in &self.rows {
            let blank = (row.len()..self.headings.len()).map(|_| "");
            out += &line(row.iter().map(String::as_str).chain(blank).collect());
        }
        out
    }
}

/// Headings for a table of names and numbers: `first` to the left, the rest to the right.
pub fn numbers<'a>(first: &'a str, rest: &[&'a str]) -> Vec<(&'a str, Align)> {
    let rest = rest.iter().map(|&h| (h, Align::Right));
    [(first, Align::Left)].into_iter().chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new("  ", &[("name", Align::Left), ("ms", Align::Right)]);
        t.row(vec!["a".into(), "12.5".into()]);
        t.row(vec!["longer name".into()]);
        t
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_lines_end_without_spaces() {
        assert_eq!(
            table().text(),
            "  name           ms\n  a            12.5\n  longer name\n"
        );
    }

    #[test]
    fn markdown_fills_a_short_row_with_blank_cells() {
        assert_eq!(
            table().markdown(),
            "| name | ms |\n| --- | --- |\n| a | 12.5 |\n| longer name |  |\n"
        );
    }
}

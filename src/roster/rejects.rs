//! The rejects file: the rows an import refused, as they were, plus the reason.
//!
//! It is meant to be opened in Excel, fixed, and imported again, so it is UTF-8 with a BOM
//! (without one Excel on a Chinese Windows reads it as GBK and garbles every name) and keeps
//! the original headers.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Header of the column holding the reason.
pub const REASON_HEADER: &str = "reason";

/// Writes rejected rows as CSV.
#[derive(Debug)]
pub struct RejectsWriter<W: Write = BufWriter<File>> {
    writer: csv::Writer<W>,
    /// Number of original columns, so short rows are padded and the reason always lands under
    /// its header.
    width: usize,
    /// A `reason` column already in the input (a rejects file imported again); it is replaced,
    /// not repeated, so fixing and re-importing never piles up reason columns.
    stale_reason: Option<usize>,
    written: u64,
}

impl RejectsWriter {
    /// Creates (or truncates) `path` and writes the BOM and the header row.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path, headers: &[String]) -> io::Result<RejectsWriter> {
        RejectsWriter::new(BufWriter::new(File::create(path)?), headers)
    }
}

impl<W: Write> RejectsWriter<W> {
    /// Writes the BOM and the header row to any writer.
    ///
    /// # Errors
    /// Writing fails.
    pub fn new(mut out: W, headers: &[String]) -> io::Result<RejectsWriter<W>> {
        out.write_all(b"\xEF\xBB\xBF")?;
        let stale_reason = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(REASON_HEADER));
        let mut writer = RejectsWriter {
            // Rows of a malformed record may be longer than the header; keep every cell.
            writer: csv::WriterBuilder::new().flexible(true).from_writer(out),
            width: headers.len(),
            stale_reason,
            written: 0,
        };
        writer.write_record(headers, REASON_HEADER)?;
        writer.written = 0;
        Ok(writer)
    }

    /// Appends one rejected row: its cells as read, then `reason`.
    ///
    /// Cells beyond the header (a malformed row) follow the reason column, so the reason stays
    /// under its header.
    ///
    /// # Errors
    /// Writing fails.
    pub fn write(&mut self, original: &[String], reason: &str) -> io::Result<()> {
        self.write_record(original, reason)
    }

    fn write_record(&mut self, cells: &[String], reason: &str) -> io::Result<()> {
        let stale_reason = self.stale_reason;
        let record = (0..self.width)
            .filter(|&i| Some(i) != stale_reason)
            .map(|i| cells.get(i).map_or("", String::as_str))
            .chain(std::iter::once(reason))
            .chain(cells.iter().skip(self.width).map(String::as_str));
        self.writer.write_record(record)?;
        self.written += 1;
        Ok(())
    }

    /// Rows written so far, not counting the header.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes everything to the underlying writer and returns it.
    ///
    /// # Errors
    /// Flushing fails.
    pub fn finish(self) -> io::Result<W> {
        let mut out = self.writer.into_inner().map_err(|e| e.into_error())?;
        out.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|&c| c.to_owned()).collect()
    }

    fn written(headers: &[&str], rows: &[(&[&str], &str)]) -> String {
        let mut writer = RejectsWriter::new(Vec::new(), &strings(headers)).unwrap();
        for (cells, reason) in rows {
            writer.write(&strings(cells), reason).unwrap();
        }
        assert_eq!(writer.written(), rows.len() as u64);
        let bytes = writer.finish().unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM");
        String::from_utf8(bytes[3..].to_vec()).unwrap()
    }

    #[test]
    fn keeps_original_headers_and_cells_and_appends_the_reason() {
        let text = written(
            &["统一社会信用代码", "名称", "备注"],
            &[(
                &[" 9122 ", "梨树县, 某店", "x"],
                "统一社会信用代码：长度不对",
            )],
        );
        assert_eq!(
            text,
            "统一社会信用代码,名称,备注,reason\n 9122 ,\"梨树县, 某店\",x,统一社会信用代码：长度不对\n"
        );
    }

    #[test]
    fn pads_short_rows_and_keeps_surplus_cells_after_the_reason() {
        let text = written(
            &["uscc", "name", "legal_rep"],
            &[(&["a"], "太短"), (&["a", "b", "c", "d"], "太长")],
        );
        assert_eq!(text, "uscc,name,legal_rep,reason\na,,,太短\na,b,c,太长,d\n");
    }

    #[test]
    fn replaces_a_reason_column_from_an_earlier_rejects_file() {
        let text = written(
            &["uscc", "reason", "name"],
            &[(&["a", "旧原因", "b"], "新原因"), (&["c"], "短")],
        );
        assert_eq!(text, "uscc,name,reason\na,b,新原因\nc,,短\n");
    }

    #[test]
    fn a_rejects_file_reads_back_as_a_roster() {
        use crate::roster::source::{Format, RosterFile};

        let headers = strings(&["统一社会信用代码", "名称", "法定代表人", "备注"]);
        let mut writer = RejectsWriter::new(Vec::new(), &headers).unwrap();
        writer
            .write(
                &strings(&["9122", "某店", "张三", "多行\n备注"]),
                "第2行：原因",
            )
            .unwrap();
        let bytes = writer.finish().unwrap();
        let mut roster = RosterFile::from_bytes(bytes, Format::Csv).unwrap();
        assert_eq!(
            roster.headers(),
            strings(&["统一社会信用代码", "名称", "法定代表人", "备注", "reason"])
        );
        let row = roster.next().unwrap().unwrap();
        assert_eq!(
            row.original,
            strings(&["9122", "某店", "张三", "多行\n备注", "第2行：原因"])
        );
        assert_eq!(row.fields.uscc, "9122");
        assert!(roster.next().is_none());
    }

    #[test]
    fn create_writes_a_file_excel_reads_as_utf8() {
        let path = std::env::temp_dir().join(format!("xyd-rejects-{}.csv", std::process::id()));
        let mut writer = RejectsWriter::create(&path, &strings(&["名称"])).unwrap();
        writer.write(&strings(&["某某"]), "原因").unwrap();
        writer.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes, "\u{FEFF}名称,reason\n某某,原因\n".as_bytes());
    }
}

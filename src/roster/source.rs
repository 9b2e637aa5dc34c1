//! Opening a roster file (CSV in UTF-8 or GBK, or an Excel workbook) and streaming its rows.
//!
//! This layer only finds the columns and hands out their text: every rule about what a cell
//! may contain lives in [`super::row`]. A whole file is read into memory first — a
//! million-row roster is ~150 MB, and one pass over one buffer is both the fastest way to
//! detect the encoding and the simplest way to count rows for a progress bar.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use calamine::{Data, Range, Reader};

/// How many leading non-empty rows may be title lines ("梨树县市场主体名录") above the header.
const MAX_TITLE_ROWS: usize = 10;

/// The roster columns this crate understands. Any other column is carried along untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Uscc,
    Name,
    LegalRep,
    TownshipCode,
    Industry,
    Address,
    Founded,
    Status,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::Uscc,
        Column::Name,
        Column::LegalRep,
        Column::TownshipCode,
        Column::Industry,
        Column::Address,
        Column::Founded,
        Column::Status,
    ];

    /// Columns a roster must have; the rest are optional.
    pub const REQUIRED: [Column; 3] = [Column::Uscc, Column::Name, Column::LegalRep];

    /// The canonical Chinese header, used in every message.
    #[must_use]
    pub const fn label_zh(self) -> &'static str {
        match self {
            Column::Uscc => "统一社会信用代码",
            Column::Name => "名称",
            Column::LegalRep => "法定代表人",
            Column::TownshipCode => "乡镇代码",
            Column::Industry => "行业门类",
            Column::Address => "住所",
            Column::Founded => "成立日期",
            Column::Status => "登记状态",
        }
    }

    /// The canonical English header.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Column::Uscc => "uscc",
            Column::Name => "name",
            Column::LegalRep => "legal_rep",
            Column::TownshipCode => "township_code",
            Column::Industry => "industry",
            Column::Address => "address",
            Column::Founded => "founded",
            Column::Status => "status",
        }
    }

    /// Accepted headers, in the form [`normalise_header`] produces.
    const fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Uscc => &["统一社会信用代码", "uscc", "信用代码", "社会信用代码"],
            Column::Name => &["名称", "name", "企业名称", "主体名称", "市场主体名称"],
            Column::LegalRep => &[
                "法定代表人",
                "legalrep",
                "经营者",
                "负责人",
                "法定代表人/负责人",
                "法定代表人(负责人)",
            ],
            Column::TownshipCode => &["乡镇代码", "townshipcode"],
            Column::Industry => &["行业门类", "industry"],
            Column::Address => &["住所", "address", "地址", "经营场所"],
            Column::Founded => &["成立日期", "founded", "注册日期"],
            Column::Status => &["登记状态", "status"],
        }
    }

    /// The column a header cell names, if any: case-, width- and spacing-insensitive,
    /// so `Legal Rep`, `LEGAL_REP` and `法定代表人（负责人）` are all recognised.
    #[must_use]
    pub fn from_header(header: &str) -> Option<Column> {
        let key = normalise_header(header);
        Column::ALL
            .into_iter()
            .find(|column| column.aliases().contains(&key.as_str()))
    }
}

/// Folds full-width ASCII to ASCII, lower-cases, and drops whitespace, `_` and `-`.
fn normalise_header(header: &str) -> String {
    header
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|&c| !c.is_whitespace() && c != '_' && c != '-' && c != '\u{FEFF}')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Why a roster file, or one of its rows, cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("无法读取文件“{}”：{source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    #[error("不支持的文件类型“{0}”，请使用 CSV（.csv、.txt）或 Excel（.xlsx、.xlsm、.xls）文件")]
    UnsupportedFormat(String),

    /// The text is neither UTF-8 nor GB18030 (which includes GBK and GB2312).
    #[error("无法识别文件编码：{0}")]
    Encoding(&'static str),

    #[error("无法读取 Excel 文件：{0}")]
    Workbook(String),

    #[error("文件中没有任何数据（找不到表头行）")]
    Empty,

    /// Labels of the missing required columns, in canonical order.
    #[error("缺少必需的列：{}", .0.join("、"))]
    MissingColumns(Vec<&'static str>),

    /// Two header cells name the same roster column.
    #[error("列“{first}”和列“{second}”都表示“{}”，请只保留一列", .column.label_zh())]
    DuplicateColumn {
        column: Column,
        first: String,
        second: String,
    },

    /// One record cannot be trusted; the caller rejects it and carries on with the next.
    #[error("第{line}行：{reason}")]
    MalformedRow {
        line: u64,
        /// The cells as read, for the rejects file.
        original: Vec<String>,
        reason: String,
    },
}

/// The text of the known columns of one row, trimmed; optional columns that are absent or
/// blank are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawFields {
    pub uscc: String,
    pub name: String,
    pub legal_rep: String,
    pub township_code: Option<String>,
    pub industry: Option<String>,
    pub address: Option<String>,
    pub founded: Option<String>,
    pub status: Option<String>,
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// 1-based physical row of the file (a CSV line or a worksheet row); a header in the first
    /// row is line 1, so this is the number a spreadsheet shows beside the row.
    pub line: u64,
    /// Every cell as read, untrimmed, including unknown columns.
    pub original: Vec<String>,
    pub fields: RawFields,
}

/// How a roster file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Workbook,
}

impl Format {
    /// The format an extension stands for (case-insensitive).
    #[must_use]
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "csv" | "txt" => Some(Format::Csv),
            "xlsx" | "xlsm" | "xls" => Some(Format::Workbook),
            _ => None,
        }
    }
}

/// Where a column sits in the header row.
#[derive(Debug, Clone, Copy, Default)]
struct ColumnMap([Option<usize>; Column::ALL.len()]);

impl ColumnMap {
    fn from_headers(headers: &[String]) -> Result<ColumnMap, SourceError> {
        let mut map = ColumnMap::default();
        for (index, header) in headers.iter().enumerate() {
            let Some(column) = Column::from_header(header) else {
                continue;
            };
            if let Some(first) = map.get(column) {
                return Err(SourceError::DuplicateColumn {
                    column,
                    first: headers[first].trim().to_owned(),
                    second: header.trim().to_owned(),
                });
            }
            map.0[column as usize] = Some(index);
        }
        let missing: Vec<&'static str> = Column::REQUIRED
            .into_iter()
            .filter(|&c| map.get(c).is_none())
            .map(Column::label_zh)
            .collect();
        if missing.is_empty() {
            Ok(map)
        } else {
            Err(SourceError::MissingColumns(missing))
        }
    }

    fn get(&self, column: Column) -> Option<usize> {
        self.0[column as usize]
    }

    fn has_any(headers: &[String]) -> bool {
        headers.iter().any(|h| Column::from_header(h).is_some())
    }
}

/// A record before column mapping.
struct Record {
    line: u64,
    cells: Vec<String>,
    /// A CSV record running over several physical lines (quoted line breaks).
    spans_lines: bool,
}

impl Record {
    fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// CSV records from a decoded, in-memory buffer.
struct CsvRecords {
    reader: csv::Reader<io::Cursor<Vec<u8>>>,
    record: csv::ByteRecord,
    failed: bool,
}

impl CsvRecords {
    /// The physical line the current record starts on.
    ///
    /// The reader positions a record where the previous one ended, before the blank lines it
    /// skips; step over those so the line matches what an editor shows.
    fn record_line(&self) -> u64 {
        let Some(position) = self.record.position() else {
            return 0;
        };
        let buffer = self.reader.get_ref().get_ref();
        let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
        let blank_lines = buffer
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .filter(|&&b| b == b'\n')
            .count();
        position.line() + blank_lines as u64
    }

    fn not_utf8(&self, line: u64) -> SourceError {
        SourceError::MalformedRow {
            line,
            original: self
                .record
                .iter()
                .map(|cell| String::from_utf8_lossy(cell).into_owned())
                .collect(),
            reason: "不是有效的 UTF-8 文本（文件中可能混有 GBK 等其他编码的内容）".to_owned(),
        }
    }

    fn next_record(&mut self) -> Option<Result<Record, SourceError>> {
        if self.failed {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record_line();
                // Sized up front: collecting `Result`s would grow the vector step by step.
                let mut cells = Vec::with_capacity(self.record.len());
                for cell in &self.record {
                    match std::str::from_utf8(cell) {
                        Ok(text) => cells.push(text.to_owned()),
                        Err(_) => return Some(Err(self.not_utf8(line))),
                    }
                }
                Some(Ok(Record {
                    line,
                    cells,
                    spans_lines: self.record.as_slice().contains(&b'\n'),
                }))
            }
            Err(error) => {
                // Reading bytes from memory with a flexible reader cannot fail; should it
                // anyway, stop rather than risk looping on a reader that no longer advances.
                self.failed = true;
                let line = error.position().map_or(0, csv::Position::line);
                Some(Err(SourceError::MalformedRow {
                    line,
                    original: Vec::new(),
                    reason: format!("CSV 格式错误：{error}"),
                }))
            }
        }
    }
}

/// Rows of the first worksheet.
struct SheetRecords {
    range: Range<Data>,
    /// 0-based sheet row where the range starts (calamine skips leading empty rows).
    first_line: u64,
    next: usize,
}

impl SheetRecords {
    fn next_record(&mut self) -> Option<Record> {
        let (height, width) = self.range.get_size();
        if self.next >= height {
            return None;
        }
        // Indexing, not `rows().nth()`: calamine's row iterator would rescan from the top.
        let cells = (0..width)
            .map(|column| {
                self.range
                    .get((self.next, column))
                    .map_or_else(String::new, cell_text)
            })
            .collect();
        let line = self.first_line + self.next as u64 + 1;
        self.next += 1;
        Some(Record {
            line,
            cells,
            // A line break typed into a cell (Alt+Enter) is content, not a parsing accident.
            spans_lines: false,
        })
    }
}

/// The text a worksheet cell shows, normalised for the row rules.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
            if (hh, mm, ss) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
            }
        }
        Data::DateTime(duration) => float_text(duration.as_f64()),
        Data::DateTimeIso(s) => s.strip_suffix("T00:00:00").unwrap_or(s).to_owned(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

/// Whole numbers without `.0`, so a township code typed as a number reads `220322100`.
fn float_text(f: f64) -> String {
    // Beyond 2^53 an f64 is no longer an exact integer; show what Excel stored.
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

enum Records {
    Csv(CsvRecords),
    Sheet(SheetRecords),
}

impl Records {
    fn next_record(&mut self) -> Option<Result<Record, SourceError>> {
        match self {
            Records::Csv(csv) => csv.next_record(),
            Records::Sheet(sheet) => sheet.next_record().map(Ok),
        }
    }

    /// The next record with at least one non-blank cell.
    fn next_non_blank(&mut self) -> Option<Result<Record, SourceError>> {
        loop {
            match self.next_record()? {
                Ok(record) if record.is_blank() => continue,
                other => return Some(other),
            }
        }
    }
}

/// An open roster file: its header, and an iterator over its data rows.
pub struct RosterFile {
    records: Records,
    headers: Vec<String>,
    columns: ColumnMap,
    encoding: &'static str,
    row_count_hint: Option<u64>,
}

impl fmt::Debug for RosterFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterFile")
            .field("headers", &self.headers)
            .field("encoding", &self.encoding)
            .field("row_count_hint", &self.row_count_hint)
            .finish_non_exhaustive()
    }
}

impl RosterFile {
    /// Opens a roster, choosing the format by extension (`.csv`/`.txt`, `.xlsx`/`.xlsm`/`.xls`).
    ///
    /// # Errors
    /// The file cannot be read, its format or encoding is not supported, or its header lacks a
    /// required column or names one twice.
    pub fn open(path: &Path) -> Result<RosterFile, SourceError> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let format = Format::from_extension(extension)
            .ok_or_else(|| SourceError::UnsupportedFormat(format!(".{extension}")))?;
        let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
        RosterFile::from_bytes(bytes, format)
    }

    /// Reads a roster already in memory (an upload, a test).
    ///
    /// A "CSV" whose bytes are really a workbook (a renamed `.xlsx`) is read as a workbook:
    /// the content is unambiguous, and refusing it would only puzzle the user.
    ///
    /// # Errors
    /// As [`RosterFile::open`].
    pub fn from_bytes(bytes: Vec<u8>, format: Format) -> Result<RosterFile, SourceError> {
        const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
        const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0";
        if format == Format::Workbook
            || bytes.starts_with(ZIP_MAGIC)
            || bytes.starts_with(OLE_MAGIC)
        {
            RosterFile::from_workbook(&bytes)
        } else {
            RosterFile::from_csv(bytes)
        }
    }

    fn from_csv(mut bytes: Vec<u8>) -> Result<RosterFile, SourceError> {
        const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
        if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
            return Err(SourceError::Encoding(
                "文件是 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8（逗号分隔）”",
            ));
        }
        if bytes.starts_with(UTF8_BOM) {
            bytes.drain(..UTF8_BOM.len());
        }
        let (text, encoding) = if mostly_utf8(&bytes) {
            // Validated record by record as it is read: one pass instead of two, and a few
            // stray bytes cost only their own rows.
            (bytes, "UTF-8")
        } else {
            // GB18030 is a superset of GBK and GB2312, the encodings of Excel's "CSV (逗号分隔)"
            // on a Chinese Windows. Any undecodable byte fails the whole file: guessing on
            // would put mojibake names into the roster.
            let decoded = encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(&bytes)
                .ok_or(SourceError::Encoding(
                    "既不是 UTF-8，也不是 GBK/GB18030，请另存为“CSV UTF-8（逗号分隔）”",
                ))?;
            let decoded = match decoded {
                Cow::Borrowed(s) => s.to_owned(),
                Cow::Owned(s) => s,
            };
            (decoded.into_bytes(), "GB18030")
        };
        let physical_lines = count_lines(&text);
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            // Ragged rows are judged per row below, not fatal for the file.
            .flexible(true)
            .from_reader(io::Cursor::new(text));
        let records = Records::Csv(CsvRecords {
            reader,
            record: csv::ByteRecord::new(),
            failed: false,
        });
        RosterFile::with_header(records, encoding, |header_line| {
            physical_lines.saturating_sub(header_line)
        })
    }

    fn from_workbook(bytes: &[u8]) -> Result<RosterFile, SourceError> {
        let mut workbook = calamine::open_workbook_auto_from_rs(io::Cursor::new(bytes))
            .map_err(|e| SourceError::Workbook(e.to_string()))?;
        let range = workbook
            .worksheet_range_at(0)
            .ok_or_else(|| SourceError::Workbook("工作簿中没有工作表".to_owned()))?
            .map_err(|e| SourceError::Workbook(e.to_string()))?;
        let first_line = range.start().map_or(0, |(row, _)| u64::from(row));
        let last_line = first_line + range.height() as u64;
        let records = Records::Sheet(SheetRecords {
            range,
            first_line,
            next: 0,
        });
        RosterFile::with_header(records, "workbook", |header_line| {
            last_line.saturating_sub(header_line)
        })
    }

    /// Finds the header among the first rows (title lines above it are skipped) and maps it.
    fn with_header(
        mut records: Records,
        encoding: &'static str,
        rows_after: impl FnOnce(u64) -> u64,
    ) -> Result<RosterFile, SourceError> {
        let mut first = None;
        let mut header = None;
        for _ in 0..MAX_TITLE_ROWS {
            let Some(record) = records.next_non_blank().transpose()? else {
                break;
            };
            if ColumnMap::has_any(&record.cells) {
                header = Some(record);
                break;
            }
            first.get_or_insert(record);
        }
        // Without any known header, report against the first row: the usual mistake is a
        // file whose header is simply wrong, not one with ten title lines.
        let header = header.or(first).ok_or(SourceError::Empty)?;
        let columns = ColumnMap::from_headers(&header.cells)?;
        Ok(RosterFile {
            records,
            row_count_hint: Some(rows_after(header.line)),
            headers: header.cells,
            columns,
            encoding,
        })
    }

    /// The header cells as read.
    #[must_use]
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// `"UTF-8"` or `"GB18030"` for CSV (GB18030 covers GBK); `"workbook"` for Excel files.
    #[must_use]
    pub fn encoding(&self) -> &'static str {
        self.encoding
    }

    /// Roughly how many data rows follow the header, for a progress bar (blank rows and
    /// multi-line cells make it an overestimate).
    #[must_use]
    pub fn row_count_hint(&self) -> Option<u64> {
        self.row_count_hint
    }

    fn to_row(&self, record: Record) -> Result<SourceRow, SourceError> {
        if let Some(reason) = self.malformation(&record) {
            return Err(SourceError::MalformedRow {
                line: record.line,
                original: record.cells,
                reason,
            });
        }
        let text = |column: Column| -> &str {
            self.columns
                .get(column)
                .and_then(|i| record.cells.get(i))
                .map_or("", |cell| cell.trim())
        };
        let optional = |column: Column| {
            Some(text(column))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let fields = RawFields {
            uscc: text(Column::Uscc).to_owned(),
            name: text(Column::Name).to_owned(),
            legal_rep: text(Column::LegalRep).to_owned(),
            township_code: optional(Column::TownshipCode),
            industry: optional(Column::Industry),
            address: optional(Column::Address),
            founded: optional(Column::Founded),
            status: optional(Column::Status),
        };
        Ok(SourceRow {
            line: record.line,
            original: record.cells,
            fields,
        })
    }

    /// Why a record's cells cannot be trusted to sit under the right headers, if they can't.
    fn malformation(&self, record: &Record) -> Option<String> {
        // Only CSV cells find their column by counting commas and quotes. A worksheet's cells
        // sit in fixed columns: whatever lies beyond the header is simply not read.
        if !matches!(self.records, Records::Csv(_)) {
            return None;
        }
        let width = self.headers.len();
        let surplus = record.cells.get(width..).unwrap_or_default();
        if surplus.iter().any(|c| !c.trim().is_empty()) {
            return Some(format!(
                "有{}个单元格，比表头多{}个（可能是某个单元格中有未加引号的逗号）",
                record.cells.len(),
                record.cells.len() - width
            ));
        }
        // A stray quote in a CSV makes the parser swallow the following lines into one cell.
        // A known column never legitimately holds a line break, so one is a reliable sign.
        if record.spans_lines {
            for column in Column::ALL {
                let Some(cell) = self.columns.get(column).and_then(|i| record.cells.get(i)) else {
                    continue;
                };
                if cell.contains(['\n', '\r']) {
                    let breaks: usize = record.cells.iter().map(|c| c.matches('\n').count()).sum();
                    return Some(format!(
                        "“{}”列中有换行，可能是引号不成对，第{}–{}行被并成了一行",
                        column.label_zh(),
                        record.line,
                        record.line + breaks as u64
                    ));
                }
            }
        }
        None
    }
}

impl Iterator for RosterFile {
    type Item = Result<SourceRow, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = match self.records.next_non_blank()? {
            Ok(record) => record,
            Err(error) => return Some(Err(error)),
        };
        Some(self.to_row(record))
    }
}

/// Whether undeclared text is UTF-8: judged on a sample from its first non-ASCII byte, by
/// whether valid multi-byte characters outnumber invalid sequences. GBK text fails at almost
/// every character, while a UTF-8 file with a row pasted from a GBK one stays UTF-8 and
/// refuses just that row.
fn mostly_utf8(bytes: &[u8]) -> bool {
    const SAMPLE: usize = 64 * 1024;
    let Some(first) = bytes.iter().position(|b| !b.is_ascii()) else {
        return true;
    };
    let sample = &bytes[first..bytes.len().min(first + SAMPLE)];
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in sample.utf8_chunks() {
        // Lead bytes of multi-byte characters.
        valid += chunk.valid().bytes().filter(|&b| b >= 0xC0).count();
        invalid += usize::from(!chunk.invalid().is_empty());
    }
    valid > invalid
}

/// Physical lines in a buffer, counting a last line without a line break.
fn count_lines(text: &[u8]) -> u64 {
    // Byte-sized counters over short chunks let the compiler vectorise the scan.
    let breaks: u64 = text
        .chunks(usize::from(u8::MAX))
        .map(|chunk| chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')))
        .map(u64::from)
        .sum();
    breaks + u64::from(text.last().is_some_and(|&b| b != b'\n'))
}

#[cfg(test)]
mod tests;

//! Manual assignment of responsible departments from a CSV that staff keep in Excel. The rules
//! themselves are in [`crate::domain::assignment_rule`].

use crate::domain::assignment_rule::AssignmentRow;

/// A parsed assignment CSV.
#[derive(Debug, Clone)]
pub struct AssignmentFile {
    pub headers: Vec<String>,
    pub rows: Vec<AssignmentRow>,
}

/// Reads an assignment CSV (UTF-8, with or without BOM, or GBK/GB18030 as Excel saves it on a
/// Chinese Windows) with the columns `统一社会信用代码`/`uscc` and `部门`/`department`; other
/// columns are kept for the rejects file. Blank lines are skipped.
///
/// # Errors
/// A Chinese sentence: undecodable text, a missing column, a CSV syntax error.
pub fn read_assignment_csv(bytes: &[u8]) -> Result<AssignmentFile, String> {
    let text = decode(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers: Vec<String> = loop {
        match records.next() {
            None => return Err("文件中没有任何数据（找不到表头行）".into()),
            Some(Err(e)) => return Err(format!("CSV 格式错误：{e}")),
            Some(Ok(r)) if r.iter().all(|c| c.trim().is_empty()) => continue,
            Some(Ok(r)) => break r.iter().map(str::to_owned).collect(),
        }
    };
    let find = |aliases: &[&str]| {
        headers.iter().position(|h| {
            let h = h.trim().trim_start_matches('\u{FEFF}').to_lowercase();
            aliases.contains(&h.as_str())
        })
    };
    let uscc_col = find(&["统一社会信用代码", "uscc", "信用代码", "社会信用代码"]);
    let dept_col = find(&[
        "部门",
        "department",
        "责任部门",
        "department_id",
        "部门编号",
    ]);
    let (Some(uscc_col), Some(dept_col)) = (uscc_col, dept_col) else {
        return Err(
            "缺少必需的列：需要“统一社会信用代码”（uscc）和“部门”（department）两列".into(),
        );
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| format!("CSV 格式错误：{e}"))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
        rows.push(AssignmentRow {
            line,
            original: record.iter().map(str::to_owned).collect(),
            uscc: cell(uscc_col).to_ascii_uppercase(),
            department: cell(dept_col),
        });
    }
    Ok(AssignmentFile { headers, rows })
}

/// UTF-8 (a BOM is dropped) or, failing that, GB18030 (a superset of GBK). The roster reader in
/// `roster::source` tolerates stray bytes row by row; a two-column file is simply refused.
fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(
            "文件是 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8（逗号分隔）”".into(),
        );
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| {
            "无法识别文件编码：既不是 UTF-8，也不是 GBK/GB18030，请另存为“CSV UTF-8（逗号分隔）”"
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_csv_reads_utf8_and_gbk_with_either_header() {
        let file = read_assignment_csv(
            "\u{FEFF}统一社会信用代码,部门,备注\n91220322mA0000000X,发改局,x\n\n,,\nA,7\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(file.headers, ["统一社会信用代码", "部门", "备注"]);
        assert_eq!(file.rows.len(), 2);
        assert_eq!(file.rows[0].uscc, "91220322MA0000000X");
        assert_eq!(file.rows[0].department, "发改局");
        assert_eq!(file.rows[0].line, 2);
        assert_eq!(file.rows[1].line, 5);
        assert_eq!(file.rows[1].department, "7");
        let (gbk, _, _) = encoding_rs::GBK.encode("uscc,department\nA,商务局\n");
        let file = read_assignment_csv(&gbk).unwrap();
        assert_eq!(file.rows[0].department, "商务局");
        assert!(
            read_assignment_csv("名称,部门\n".as_bytes())
                .unwrap_err()
                .contains("缺少必需的列")
        );
        assert!(read_assignment_csv(b"").is_err());
    }
}

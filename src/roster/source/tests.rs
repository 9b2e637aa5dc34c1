use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/roster")
        .join(name)
}

fn csv(text: &str) -> Result<RosterFile, SourceError> {
    RosterFile::from_bytes(text.as_bytes().to_vec(), Format::Csv)
}

fn rows(file: RosterFile) -> Vec<SourceRow> {
    file.collect::<Result<_, _>>().unwrap()
}

fn only_row(text: &str) -> SourceRow {
    let mut rows = rows(csv(text).unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.remove(0)
}

#[test]
fn utf8_bom_gbk_and_xlsx_fixtures_read_the_same_rows() {
    let expected_first = RawFields {
        uscc: "91220322MA0Y3K2B1F".into(),
        name: "梨树县丰收农业机械有限公司".into(),
        legal_rep: "张伟".into(),
        township_code: Some("220322100".into()),
        industry: Some("C".into()),
        address: Some("吉林省四平市梨树县梨树镇中心街18号".into()),
        founded: Some("2015-03-08".into()),
        status: Some("存续".into()),
    };
    let reference = RosterFile::open(&fixture("roster-utf8.csv")).unwrap();
    let headers = reference.headers().to_vec();
    let reference = rows(reference);
    assert_eq!(reference.len(), 3);
    assert_eq!(reference[0].fields, expected_first);
    // Physical lines: the blank line 4 is skipped, not renumbered.
    assert_eq!(
        reference.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 3, 5]
    );
    assert_eq!(
        reference[1].fields.address.as_deref(),
        Some("吉林省四平市梨树县郭家店镇，站前路3号, 一楼")
    );
    assert_eq!(reference[2].fields.township_code, None);

    for (name, encoding) in [
        ("roster-utf8.csv", "UTF-8"),
        ("roster-bom.csv", "UTF-8"),
        ("roster-gbk.csv", "GB18030"),
        ("roster.xlsx", "workbook"),
    ] {
        let file = RosterFile::open(&fixture(name)).unwrap();
        assert_eq!(file.encoding(), encoding, "{name}");
        assert_eq!(file.headers(), headers, "{name}");
        assert_eq!(file.row_count_hint(), Some(4), "{name}");
        assert_eq!(rows(file), reference, "{name}");
    }
}

#[test]
fn xlsx_numbers_and_dates_read_as_the_text_a_person_sees() {
    // In the workbook the township code and capital are numbers, the founded date a date.
    let rows = rows(RosterFile::open(&fixture("roster.xlsx")).unwrap());
    assert_eq!(rows[0].original[3], "220322100");
    assert_eq!(rows[0].original[6], "2015-03-08");
    assert_eq!(rows[0].original[8], "500");
    assert_eq!(rows[1].original[8], "12.5");
    assert_eq!(rows[2].fields.founded.as_deref(), Some("2012-06-30"));
}

#[test]
fn worksheet_cells_convert_to_text() {
    let date = |serial| {
        Data::DateTime(ExcelDateTime::new(
            serial,
            ExcelDateTimeType::DateTime,
            false,
        ))
    };
    let cases = [
        (Data::Float(220_322_100.0), "220322100"),
        (Data::Float(-3.0), "-3"),
        (Data::Float(1.5), "1.5"),
        (Data::Float(9.122_032_2e17), "912203220000000000"),
        (Data::Int(42), "42"),
        (Data::Bool(true), "TRUE"),
        (Data::Empty, ""),
        (Data::String(" 原样 ".into()), " 原样 "),
        (date(42_071.0), "2015-03-08"),
        (date(42_071.5), "2015-03-08 12:00:00"),
        (
            Data::DateTimeIso("2015-03-08T00:00:00".into()),
            "2015-03-08",
        ),
        (
            Data::DateTimeIso("2015-03-08T10:30:00".into()),
            "2015-03-08T10:30:00",
        ),
        (Data::Error(CellErrorType::NA), "#N/A"),
    ];
    for (cell, text) in cases {
        assert_eq!(cell_text(&cell), text, "{cell:?}");
    }
}

/// A roster from worksheet cells, the first at (`top`, 0).
fn sheet(top: u32, rows: &[&[Data]]) -> Result<RosterFile, SourceError> {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut range = Range::new((top, 0), (top + rows.len() as u32 - 1, width as u32 - 1));
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            range.set_value((top + r as u32, c as u32), cell.clone());
        }
    }
    let first_line = u64::from(top);
    let last_line = first_line + range.height() as u64;
    let records = Records::Sheet(SheetRecords {
        range,
        first_line,
        next: 0,
    });
    RosterFile::with_header(records, "workbook", |header| last_line - header)
}

#[test]
fn worksheet_rows_keep_their_sheet_numbers_and_skip_titles_and_blanks() {
    let s = |text: &str| Data::String(text.to_owned());
    let file = sheet(
        2,
        &[
            &[s("梨树县市场主体名录")],
            &[s("uscc"), s("name"), s("legal_rep")],
            &[s("A"), s("B"), s("C")],
            &[Data::Empty, s(" ")],
            &[s("D"), Data::Float(5.0), s("F"), s("表外的备注")],
        ],
    )
    .unwrap();
    assert_eq!(file.headers(), ["uscc", "name", "legal_rep", ""]);
    assert_eq!(file.row_count_hint(), Some(3));
    let rows = rows(file);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [5, 7]);
    // Cells beyond the header are kept but, unlike in a CSV, not a sign of shifted columns.
    assert_eq!(rows[1].original, ["D", "5", "F", "表外的备注"]);
    assert_eq!(rows[1].fields.name, "5");
}

#[test]
fn a_workbook_saved_as_csv_by_name_is_still_read_as_a_workbook() {
    let bytes = std::fs::read(fixture("roster.xlsx")).unwrap();
    let file = RosterFile::from_bytes(bytes, Format::Csv).unwrap();
    assert_eq!(file.encoding(), "workbook");
    assert_eq!(rows(file).len(), 3);
}

#[test]
fn every_header_alias_maps_to_its_column() {
    for column in Column::ALL {
        let mut spellings: Vec<String> = column.aliases().iter().map(|&a| a.to_owned()).collect();
        spellings.push(column.code().to_uppercase());
        spellings.push(format!(" {} ", column.label_zh()));
        for alias in spellings {
            // Pad with the canonical required columns the alias does not cover.
            let mut headers = vec![alias.clone()];
            let mut cells = vec!["值".to_owned()];
            for required in Column::REQUIRED.into_iter().filter(|&r| r != column) {
                headers.push(required.code().to_owned());
                cells.push("x".to_owned());
            }
            let row = only_row(&format!("{}\n{}\n", headers.join(","), cells.join(",")));
            let f = &row.fields;
            let value = match column {
                Column::Uscc => Some(&f.uscc),
                Column::Name => Some(&f.name),
                Column::LegalRep => Some(&f.legal_rep),
                Column::TownshipCode => f.township_code.as_ref(),
                Column::Industry => f.industry.as_ref(),
                Column::Address => f.address.as_ref(),
                Column::Founded => f.founded.as_ref(),
                Column::Status => f.status.as_ref(),
            };
            assert_eq!(value.map(String::as_str), Some("值"), "header {alias:?}");
        }
    }
}

#[test]
fn headers_match_regardless_of_case_width_and_spacing() {
    for header in [
        "Legal Rep",
        "LEGAL-REP",
        "legal_rep",
        "法定代表人（负责人）",
        "法定代表人 / 负责人",
    ] {
        assert_eq!(
            Column::from_header(header),
            Some(Column::LegalRep),
            "{header}"
        );
    }
    assert_eq!(
        Column::from_header("\u{FEFF}统一社会信用代码"),
        Some(Column::Uscc)
    );
    assert_eq!(Column::from_header("注册资本"), None);
}

#[test]
fn missing_required_columns_are_named_in_chinese() {
    let error = csv("名称,住所\n某店,某地\n").unwrap_err();
    assert!(
        matches!(&error, SourceError::MissingColumns(m) if m == &["统一社会信用代码", "法定代表人"])
    );
    assert_eq!(
        error.to_string(),
        "缺少必需的列：统一社会信用代码、法定代表人"
    );
}

#[test]
fn a_header_without_any_known_column_lacks_all_three() {
    let error = csv("a,b\n1,2\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "缺少必需的列：统一社会信用代码、名称、法定代表人"
    );
}

#[test]
fn a_column_named_twice_is_an_error() {
    let error = csv("uscc,名称,企业名称,legal_rep\n").unwrap_err();
    assert!(matches!(
        error,
        SourceError::DuplicateColumn {
            column: Column::Name,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "列“名称”和列“企业名称”都表示“名称”，请只保留一列"
    );
}

#[test]
fn unknown_columns_are_kept_in_original_but_ignored() {
    let row = only_row("备注,uscc,name,legal_rep,注册资本\n随便,A,B,C,100\n");
    assert_eq!(row.original, ["随便", "A", "B", "C", "100"]);
    assert_eq!(row.fields.uscc, "A");
    assert_eq!(row.fields.legal_rep, "C");
}

#[test]
fn cells_are_trimmed_in_fields_but_kept_as_read_in_original() {
    let row = only_row("uscc,name,legal_rep,address\n A ,\u{3000}某店\u{3000}, 张三 ,  \n");
    assert_eq!(
        row.original,
        [" A ", "\u{3000}某店\u{3000}", " 张三 ", "  "]
    );
    assert_eq!(row.fields.uscc, "A");
    assert_eq!(row.fields.name, "某店");
    assert_eq!(row.fields.legal_rep, "张三");
    assert_eq!(row.fields.address, None, "a blank optional cell is absent");
}

#[test]
fn title_rows_above_the_header_are_skipped() {
    let file = csv("梨树县市场主体名录,,\n\n导出日期：2024-05-01,,\nuscc,name,legal_rep\nA,B,C\n")
        .unwrap();
    assert_eq!(file.headers(), ["uscc", "name", "legal_rep"]);
    assert_eq!(file.row_count_hint(), Some(1));
    let rows = rows(file);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 5);
}

#[test]
fn blank_records_are_skipped_and_lines_stay_physical() {
    let rows = rows(csv("uscc,name,legal_rep\n,,\n\nA,B,C\r\n , ,\nD,E,F").unwrap());
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 6]);
    assert_eq!(
        rows[1].fields.uscc, "D",
        "a last line without a break is read"
    );
}

#[test]
fn short_rows_read_missing_cells_as_empty() {
    let row = only_row("uscc,name,legal_rep,address\nA,B\n");
    assert_eq!(row.original, ["A", "B"]);
    assert_eq!(row.fields.legal_rep, "");
    assert_eq!(row.fields.address, None);
}

#[test]
fn a_row_with_surplus_cells_is_malformed_and_reading_goes_on() {
    let mut file = csv("uscc,name,legal_rep\nA,某店,北京,朝阳,张三\nD,E,F\nG,H,I,,\n").unwrap();
    let Some(Err(SourceError::MalformedRow {
        line,
        original,
        reason,
    })) = file.next()
    else {
        panic!("expected a malformed row");
    };
    assert_eq!(line, 2);
    assert_eq!(original, ["A", "某店", "北京", "朝阳", "张三"]);
    assert_eq!(
        reason,
        "有5个单元格，比表头多2个（可能是某个单元格中有未加引号的逗号）"
    );
    assert_eq!(file.next().unwrap().unwrap().fields.uscc, "D");
    // Trailing empty cells, as Excel writes them, are harmless.
    assert_eq!(
        file.next().unwrap().unwrap().original,
        ["G", "H", "I", "", ""]
    );
    assert!(file.next().is_none());
}

#[test]
fn an_unbalanced_quote_is_reported_instead_of_swallowing_rows_silently() {
    let mut file = csv("uscc,name,legal_rep\nA,\"某店,张三\nD,E,F\nG,H,I\n").unwrap();
    let error = file.next().unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "第2行：“名称”列中有换行，可能是引号不成对，第2–5行被并成了一行"
    );
    assert!(file.next().is_none());
}

#[test]
fn a_line_break_inside_an_unknown_quoted_column_is_fine() {
    let row = only_row("uscc,name,legal_rep,备注\nA,B,C,\"两行\n备注\"\n");
    assert_eq!(row.original[3], "两行\n备注");
}

#[test]
fn stray_gbk_bytes_in_a_utf8_file_cost_only_their_own_row() {
    let mut bytes = "uscc,name,legal_rep\nA,梨树县某店,张三\n"
        .as_bytes()
        .to_vec();
    let (gbk, _, _) = encoding_rs::GBK.encode("B,郭家店某店,李四\n");
    bytes.extend_from_slice(&gbk);
    bytes.extend_from_slice("C,榆树台某店,王五\n".as_bytes());
    let mut file = RosterFile::from_bytes(bytes, Format::Csv).unwrap();
    assert_eq!(file.encoding(), "UTF-8");
    assert_eq!(file.next().unwrap().unwrap().fields.name, "梨树县某店");
    let error = file.next().unwrap().unwrap_err();
    assert!(
        matches!(&error, SourceError::MalformedRow { line: 3, original, .. } if original[0] == "B"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "第3行：不是有效的 UTF-8 文本（文件中可能混有 GBK 等其他编码的内容）"
    );
    assert_eq!(file.next().unwrap().unwrap().fields.name, "榆树台某店");
    assert!(file.next().is_none());
}

#[test]
fn gbk_with_an_ascii_header_is_still_recognised() {
    let (gbk, _, _) =
        encoding_rs::GBK.encode("uscc,name,legal_rep\nA,梨树县丰收农业机械有限公司,张伟\n");
    let file = RosterFile::from_bytes(gbk.into_owned(), Format::Csv).unwrap();
    assert_eq!(file.encoding(), "GB18030");
    assert_eq!(rows(file)[0].fields.name, "梨树县丰收农业机械有限公司");
}

#[test]
fn text_in_neither_utf8_nor_gb18030_is_refused() {
    let bytes = b"uscc,name,legal_rep\nA,\xFF\xFF,C\n".to_vec();
    let error = RosterFile::from_bytes(bytes, Format::Csv).unwrap_err();
    assert!(matches!(error, SourceError::Encoding(_)));
    assert!(
        error
            .to_string()
            .starts_with("无法识别文件编码：既不是 UTF-8")
    );
}

#[test]
fn utf16_text_is_refused_with_advice() {
    let bytes = b"\xFF\xFEu\0s\0c\0c\0".to_vec();
    let error = RosterFile::from_bytes(bytes, Format::Csv).unwrap_err();
    assert!(
        error.to_string().contains("CSV UTF-8（逗号分隔）"),
        "{error}"
    );
}

#[test]
fn an_empty_file_has_no_header() {
    for text in ["", "\u{FEFF}", "\n\n", ",,,\n"] {
        assert!(matches!(csv(text), Err(SourceError::Empty)), "{text:?}");
    }
}

#[test]
fn formats_are_chosen_by_extension() {
    assert_eq!(Format::from_extension("CSV"), Some(Format::Csv));
    assert_eq!(Format::from_extension("txt"), Some(Format::Csv));
    assert_eq!(Format::from_extension("xlsm"), Some(Format::Workbook));
    assert_eq!(Format::from_extension("xls"), Some(Format::Workbook));
    let error = RosterFile::open(Path::new("名录.docx")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "不支持的文件类型“.docx”，请使用 CSV（.csv、.txt）或 Excel（.xlsx、.xlsm、.xls）文件"
    );
}

#[test]
fn an_unreadable_file_names_its_path() {
    let error = RosterFile::open(Path::new("/nonexistent/名录.csv")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("无法读取文件“/nonexistent/名录.csv”："),
        "{error}"
    );
}

#[test]
fn a_corrupt_workbook_is_an_error_not_a_panic() {
    let error =
        RosterFile::from_bytes(b"PK\x03\x04garbage".to_vec(), Format::Workbook).unwrap_err();
    assert!(
        error.to_string().starts_with("无法读取 Excel 文件："),
        "{error}"
    );
}

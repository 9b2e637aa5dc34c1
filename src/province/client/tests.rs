use super::*;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn endpoint_paths_keep_the_base_prefix_and_encode_segments() {
    for base in ["https://xyd.example.cn/api", "https://xyd.example.cn/api/"] {
        let u = endpoint_url(&url(base), &["v1", "entities", "91220322MA0Y3K2B1F"]).unwrap();
        assert_eq!(signed_path(&u), "/api/v1/entities/91220322MA0Y3K2B1F");
    }
    let root = endpoint_url(&url("http://127.0.0.1:8090"), &["v1", "entities"]).unwrap();
    assert_eq!(signed_path(&root), "/v1/entities");
    // A hostile "USCC" stays one segment.
    let odd = endpoint_url(&url("https://h/api"), &["v1", "entities", "a/b?c"]).unwrap();
    assert_eq!(signed_path(&odd), "/api/v1/entities/a%2Fb%3Fc");
    assert_eq!(odd.query(), None);
}

#[test]
fn settings_are_validated() {
    let ok = ProvinceSettings::new("http://127.0.0.1:1", "app", Secret::new("s"));
    assert!(HttpProvince::new(ok.clone()).is_ok());
    for bad in [
        ProvinceSettings {
            base_url: "ftp://h/".to_owned(),
            ..ok.clone()
        },
        ProvinceSettings {
            base_url: "https://h/api?x=1".to_owned(),
            ..ok.clone()
        },
        ProvinceSettings {
            app_id: String::new(),
            ..ok.clone()
        },
        ProvinceSettings {
            secret: Secret::new(""),
            ..ok.clone()
        },
        ProvinceSettings {
            timeout: Duration::ZERO,
            ..ok.clone()
        },
    ] {
        assert!(HttpProvince::new(bad).is_err());
    }
}

#[test]
fn debug_hides_secrets_and_personal_data() {
    let settings = ProvinceSettings::new("https://h/api", "app", Secret::new("very-secret-value"));
    assert!(!format!("{settings:?}").contains("very-secret-value"));
    let province = HttpProvince::new(settings).unwrap();
    assert!(!format!("{province:?}").contains("very-secret-value"));

    let update = ContactUpdate {
        mobile: Some("13900000000".to_owned()),
        email: Some("new@example.com".to_owned()),
        revision: 3,
    };
    let shown = format!("{update:?}");
    assert!(!shown.contains("13900000000") && !shown.contains("new@example.com"));

    let l3 = L3Request {
        uscc: "91220322MA0Y3K2B1F".to_owned(),
        legal_rep: L3Person {
            name: "张三".to_owned(),
            id_number: "220322199001011234".to_owned(),
        },
    };
    let shown = format!("{l3:?}");
    assert!(!shown.contains("220322199001011234") && !shown.contains("张三"));
    assert!(shown.contains("张*") && shown.contains("91220322MA0Y3K2B1F"));
}

#[test]
fn retry_after_reads_delta_seconds_only() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&headers), None);
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn statuses_map_onto_the_documented_errors() {
    let rejected = answer(400, r#"{"code":"invalid_field","message":"原因"}"#).into_error("t");
    assert!(matches!(
        &rejected,
        ProvincialError::Rejected { status: 400, code, message } if code == "invalid_field" && message == "原因"
    ));
    assert!(!rejected.is_retryable());
    assert!(
        !rejected.to_string().contains("原因"),
        "reason stays out of Display"
    );

    let bare = answer(422, "<html>").into_error("t");
    assert!(matches!(bare, ProvincialError::Rejected { code, .. } if code == "unspecified"));

    let stale = answer(409, r#"{"code":"stale_timestamp","message":"m"}"#).into_error("t");
    assert!(matches!(&stale, ProvincialError::Replay { code } if code == "stale_timestamp"));
    assert!(stale.is_retryable() && !stale.needs_status_check());
    assert!(matches!(
        answer(409, r#"{"code":"conflict"}"#).into_error("t"),
        ProvincialError::Protocol(_)
    ));
    assert!(matches!(
        answer(502, "").into_error("t"),
        ProvincialError::Server(502)
    ));
    assert!(matches!(
        answer(302, "").into_error("t"),
        ProvincialError::Protocol(_)
    ));
    assert!(
        answer(404, r#"{"code":"not_found","message":"m"}"#)
            .not_found("t")
            .is_ok()
    );
    assert!(answer(404, "Not Found").not_found("t").is_err());
}

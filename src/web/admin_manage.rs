//! The admin's management pages at `/admin`: an overview, staff-side accounts, departments,
//! assignment rules, reassignment (one entity or a CSV) and monthly targets.
//!
//! The work is done by the same store functions the CLI's `assign …` and `target set` call, so a
//! change made here is checked, and audited, exactly as one made at the terminal; the actor is
//! the admin's `account:N`. Every form is a plain POST with the CSRF token; a refused form comes
//! back with status 422, the values as typed and a Chinese message beside the field; a change
//! that went through redirects (303) to the page with a notice.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::application::assignment;
use crate::domain::assignment_rule::{MatchKind, TargetAmount, parse_deadline, parse_period};
use crate::domain::calendar;
use crate::domain::division::Level;
use crate::domain::email::EmailAddress;
use crate::domain::entity_kind::EntityKind;
use crate::domain::industry::industry_label_zh;
use crate::domain::uscc::Uscc;
use crate::security::password::check_official_rules;
use crate::store::accounts::{self, AccountChange, CreateAccountError, NewAccount, Role};
use crate::store::assignments::{self, AssignError};
use crate::store::departments::{self, CreateDepartmentError, Department, DepartmentKind};
use crate::store::{progress, sync_admin};

use super::error::AppError;
use super::form::FormInput;
use super::roles::Admin;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route("/admin/users/{id}/reset-password", post(reset_password))
        .route(
            "/admin/departments",
            get(departments_page).post(add_department),
        )
        .route("/admin/departments/standard", post(seed_departments))
        .route("/admin/rules", get(rules_page).post(add_rule))
        .route("/admin/rules/{id}/remove", post(remove_rule))
        .route("/admin/rules/apply", post(apply_rules))
        .route("/admin/assign", get(assign_page).post(reassign))
        .route("/admin/assign/import", post(import_assignments))
        .route("/admin/targets", get(targets_page).post(set_target))
}

/// Longest department and display name, in characters.
const NAME_MAX: usize = 30;
/// Length of a temporary password.
const TEMPORARY_PASSWORD_LEN: usize = 16;

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// The county whose departments these pages manage: the deployment's jurisdiction, which must
/// be a county (departments, rules and targets are per county, as in the CLI).
pub struct County(pub String);

impl FromRequestParts<AppState> for County {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let code = &state.settings.jurisdiction;
        if state.divisions.get(code).map(|d| d.level) == Some(Level::County) {
            return Ok(County(code.clone()));
        }
        Err(MessagePage {
            title: "责任部门按县设置",
            message: "本平台的辖区（XYD_JURISDICTION）不是县级行政区划，责任部门、分配规则和目标只能按县管理。请为每个县单独部署，或联系运维人员调整配置。",
            link: ("/admin/sync", "查看省级平台报送"),
        }
        .into_response())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    title: &'static str,
    message: &'static str,
    link: (&'static str, &'static str),
}

/// Inline errors of one form, by field name, in the order found.
#[derive(Debug, Default)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    /// Records the first error of `field`; a later one for the same field is dropped.
    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A department in a `<select>`: `key` is its id as the form sends it back.
pub struct DepartmentOption {
    pub key: String,
    pub label: String,
}

fn department_options(departments: &[Department]) -> Vec<DepartmentOption> {
    departments
        .iter()
        .map(|d| DepartmentOption {
            key: d.id.to_string(),
            label: d.name.clone(),
        })
        .collect()
}

/// The county's department chosen in a form (its id), if it is one.
fn chosen_department<'a>(departments: &'a [Department], key: &str) -> Option<&'a Department> {
    let id: i64 = key.trim().parse().ok()?;
    departments.iter().find(|d| d.id == id)
}

/// Trimmed, with control characters (line breaks included) made spaces: names are shown on one
/// line and go into the audit log's readers.
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn parse_id(s: &str) -> Option<i64> {
    s.trim().parse().ok().filter(|id| *id > 0)
}

/// Post/redirect/get: the page the browser then loads shows the notice for `done`.
fn done(path: &str, query: &str) -> Response {
    Redirect::to(&format!("{path}?{query}")).into_response()
}

fn unprocessable(page: impl IntoResponse) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

fn role_label(role: &str) -> &'static str {
    match Role::parse(role) {
        Some(Role::Admin) => "管理员",
        Some(Role::Leader) => "县领导",
        Some(Role::Staff) => "部门工作人员",
        Some(Role::Owner) | None => "其他",
    }
}

fn township_name(state: &AppState, code: &str) -> String {
    state
        .divisions
        .get(code)
        .map_or_else(|| code.to_owned(), |d| format!("{}（{code}）", d.name))
}

/// A fresh temporary password: 16 characters from letters and digits that cannot be mistaken
/// for one another when read aloud or copied by hand, meeting the official password rules.
fn temporary_password(email: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    // The largest multiple of the alphabet's size below 256: bytes above it are drawn again,
    // so every character is equally likely.
    let limit = u8::try_from(256 / ALPHABET.len() * ALPHABET.len()).unwrap_or(u8::MAX);
    loop {
        let mut password = String::with_capacity(TEMPORARY_PASSWORD_LEN);
        while password.len() < TEMPORARY_PASSWORD_LEN {
            let mut byte = [0u8; 1];
            rand::fill(&mut byte);
            if byte[0] < limit {
                password.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
            }
        }
        if check_official_rules(&password, Some(email)).is_ok() {
            return password;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET /admin

#[derive(Template, WebTemplate)]
#[template(path = "admin_home.html")]
pub struct HomePage {
    csrf: String,
    county_name: String,
    overview: assignments::Overview,
    unassigned: i64,
    outbox_pending: i64,
    outbox_dead: i64,
    rules: usize,
    period: String,
    targets: usize,
}

pub async fn home(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
) -> Result<HomePage, AppError> {
    let db = &state.db;
    let overview = assignments::overview(db, &county).await?;
    let outbox = sync_admin::outbox_counts(db).await?;
    let in_state = |s: &str| -> i64 { outbox.iter().filter(|c| c.state == s).map(|c| c.n).sum() };
    let period = calendar::period_of(crate::clock::today());
    Ok(HomePage {
        csrf: admin.visitor.csrf.clone(),
        county_name: state
            .divisions
            .get(&county)
            .map_or_else(|| county.clone(), |d| d.name.clone()),
        unassigned: overview.entities - overview.assigned,
        overview,
        outbox_pending: in_state("pending"),
        outbox_dead: in_state("dead"),
        rules: assignments::list_rules(db, &county).await?.len(),
        targets: assignments::targets_for(db, &county, &period).await?.len(),
        period,
    })
}

// ---------------------------------------------------------------------------------------------
// /admin/users

pub struct AccountRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
    pub department: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub is_me: bool,
    /// Why an action on this row was just refused.
    pub error: Option<&'static str>,
}

#[derive(Debug, Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    csrf: String,
    notice: Option<String>,
    accounts: Vec<AccountRow>,
    departments: Vec<DepartmentOption>,
    roles: [(&'static str, &'static str); 3],
    form: UserForm,
    errors: Errors,
}

const ROLE_CHOICES: [(&str, &str); 3] = [
    ("staff", "部门工作人员"),
    ("leader", "县领导"),
    ("admin", "管理员"),
];

async fn users_page_for(
    state: &AppState,
    admin: &Admin,
    county: &str,
    notice: Option<String>,
    form: UserForm,
    errors: Errors,
    row_error: Option<(i64, &'static str)>,
) -> Result<UsersPage, AppError> {
    let accounts = accounts::list_officials(&state.db)
        .await?
        .into_iter()
        .map(|a| AccountRow {
            error: row_error.filter(|(id, _)| *id == a.id).map(|(_, e)| e),
            id: a.id,
            email: a.email,
            display_name: a.display_name.unwrap_or_default(),
            role: role_label(&a.role),
            department: a.department_name.unwrap_or_default(),
            disabled: a.disabled_at.is_some(),
            must_change_password: a.must_change_password,
            is_me: a.id == admin.account.id,
        })
        .collect();
    let departments = departments::list(&state.db, county).await?;
    Ok(UsersPage {
        csrf: admin.visitor.csrf.clone(),
        notice,
        accounts,
        departments: department_options(&departments),
        roles: ROLE_CHOICES,
        form,
        errors,
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

impl DoneQuery {
    /// The confirmation named by `done`, with the id as a number: the query string itself is
    /// never echoed.
    fn notice(&self, say: impl Fn(&str, i64) -> Option<String>) -> Option<String> {
        let id = self.id.as_deref().and_then(parse_id).unwrap_or(0);
        say(self.done.as_deref()?, id)
    }
}

pub async fn users(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Query(query): Query<DoneQuery>,
) -> Result<UsersPage, AppError> {
    let notice = query.notice(|done, id| match done {
        "disabled" => Some(format!(
            "已停用账户 {id}：它已无法登录，已登录的会话也已全部结束。"
        )),
        "enabled" => Some(format!("已重新启用账户 {id}，可以用原密码登录。")),
        _ => None,
    });
    users_page_for(
        &state,
        &admin,
        &county,
        notice,
        UserForm::default(),
        Errors::default(),
        None,
    )
    .await
}

/// The one page that shows a temporary password, once: after an account is made or its
/// password reset. It is not kept anywhere; leaving the page loses it.
#[derive(Template, WebTemplate)]
#[template(path = "admin_password.html")]
pub struct PasswordPage {
    csrf: String,
    title: &'static str,
    account_id: i64,
    email: String,
    display_name: String,
    role: &'static str,
    department: String,
    password: String,
}

pub async fn create_user(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<UserForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let departments = departments::list(&state.db, &county).await?;
    let mut errors = Errors::default();
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| errors.add("email", e.to_string()))
        .ok();
    let display_name = clean(&form.display_name);
    match display_name.chars().count() {
        0 => errors.add(
            "display_name",
            "请填写显示名称（如“张科长”），同事在工作台上看到的是它",
        ),
        n if n > NAME_MAX => errors.add("display_name", "显示名称不能超过30个字"),
        _ => {}
    }
    let role = Role::parse(form.role.trim()).filter(|r| *r != Role::Owner);
    if role.is_none() {
        errors.add("role", "请选择角色：部门工作人员、县领导或管理员");
    }
    let department = chosen_department(&departments, &form.department);
    let department_id = match (role, department, form.department.trim().is_empty()) {
        (Some(Role::Staff), Some(d), _) => Some(d.id),
        (Some(Role::Staff), None, true) => {
            errors.add("department", "部门工作人员须选择所属的责任部门");
            None
        }
        (Some(Role::Staff), None, false) => {
            errors.add("department", "请选择本县的责任部门");
            None
        }
        // Without a role there is nothing to say about the department yet.
        (None, _, _) => None,
        (_, _, false) => {
            errors.add(
                "department",
                "只有部门工作人员属于某个部门；县领导和管理员请选择“（不属于部门）”",
            );
            None
        }
        (_, _, true) => None,
    };
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        let page = users_page_for(&state, &admin, &county, None, form, errors, None).await?;
        return Ok(unprocessable(page));
    };
    let password = temporary_password(email.as_str());
    let hash = state
        .hasher
        .hash(&password)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let actor = admin.actor();
    let created = accounts::create_account(
        &state.db,
        &NewAccount {
            email: email.as_str(),
            password_hash: &hash,
            role,
            department_id,
            display_name: Some(&display_name),
            temporary_password: true,
            actor: &actor,
        },
    )
    .await;
    let refused = match created {
        Ok(id) => {
            return Ok(PasswordPage {
                csrf: admin.visitor.csrf.clone(),
                title: "账户已创建",
                account_id: id,
                email: email.as_str().to_owned(),
                display_name,
                role: role_label(role.as_str()),
                department: department.map(|d| d.name.clone()).unwrap_or_default(),
                password,
            }
            .into_response());
        }
        Err(CreateAccountError::EmailTaken) => ("email", "这个邮箱已经有账户了，请换一个邮箱"),
        Err(CreateAccountError::DepartmentMismatch | CreateAccountError::NoSuchDepartment) => {
            ("department", "请选择本县的责任部门")
        }
        Err(CreateAccountError::Store(e)) => return Err(e.into()),
    };
    errors.add(refused.0, refused.1);
    let page = users_page_for(&state, &admin, &county, None, form, errors, None).await?;
    Ok(unprocessable(page))
}

#[derive(Debug, Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn set_disabled(
    admin: Admin,
    county: String,
    state: AppState,
    id: String,
    form: CsrfForm,
    disabled: bool,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let id = parse_id(&id).ok_or(AppError::NotFound)?;
    if disabled && id == admin.account.id {
        let error = Some((id, "不能停用自己的账户；请让另一位管理员操作。"));
        let page = users_page_for(
            &state,
            &admin,
            &county,
            None,
            UserForm::default(),
            Errors::default(),
            error,
        )
        .await?;
        return Ok(unprocessable(page));
    }
    match accounts::set_disabled(&state.db, id, disabled, &admin.actor()).await? {
        AccountChange::Missing => Err(AppError::NotFound),
        AccountChange::Done | AccountChange::Unchanged => {
            let what = if disabled { "disabled" } else { "enabled" };
            Ok(done("/admin/users", &format!("done={what}&id={id}")))
        }
    }
}

pub async fn disable_user(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    set_disabled(admin, county, state, id, form, true).await
}

pub async fn enable_user(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    set_disabled(admin, county, state, id, form, false).await
}

pub async fn reset_password(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let id = parse_id(&id).ok_or(AppError::NotFound)?;
    if id == admin.account.id {
        let error = Some((id, "自己的密码请在“修改密码”页修改。"));
        let page = users_page_for(
            &state,
            &admin,
            &county,
            None,
            UserForm::default(),
            Errors::default(),
            error,
        )
        .await?;
        return Ok(unprocessable(page));
    }
    let account = accounts::list_officials(&state.db)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or(AppError::NotFound)?;
    let password = temporary_password(&account.email);
    let hash = state
        .hasher
        .hash(&password)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    match accounts::reset_password(&state.db, id, &hash, &admin.actor()).await? {
        AccountChange::Missing => Err(AppError::NotFound),
        AccountChange::Done | AccountChange::Unchanged => Ok(PasswordPage {
            csrf: admin.visitor.csrf.clone(),
            title: "密码已重置",
            account_id: id,
            email: account.email,
            display_name: account.display_name.unwrap_or_default(),
            role: role_label(&account.role),
            department: account.department_name.unwrap_or_default(),
            password,
        }
        .into_response()),
    }
}

// ---------------------------------------------------------------------------------------------
// /admin/departments

pub struct DepartmentRow {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub township: String,
    pub entities: i64,
    pub onboarded: i64,
    pub staff: i64,
}

#[derive(Debug, Deserialize, Default)]
pub struct DepartmentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    township: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_departments.html")]
pub struct DepartmentsPage {
    csrf: String,
    notice: Option<String>,
    rows: Vec<DepartmentRow>,
    kinds: Vec<(&'static str, &'static str)>,
    /// The county's townships: (code, name).
    townships: Vec<(String, String)>,
    form: DepartmentForm,
    errors: Errors,
}

async fn departments_page_for(
    state: &AppState,
    admin: &Admin,
    county: &str,
    notice: Option<String>,
    form: DepartmentForm,
    errors: Errors,
) -> Result<DepartmentsPage, AppError> {
    let db = &state.db;
    let staff = departments::staff_counts(db, county).await?;
    let mut rows = Vec::new();
    for d in departments::list(db, county).await? {
        let stages = progress::stage_counts(db, county, Some(d.id)).await?;
        rows.push(DepartmentRow {
            kind: DepartmentKind::parse(&d.kind).map_or("其他", DepartmentKind::label_zh),
            township: d
                .township_code
                .as_deref()
                .map(|code| township_name(state, code))
                .unwrap_or_default(),
            entities: stages.total(),
            onboarded: stages.onboarded(),
            staff: staff
                .iter()
                .find(|(id, _)| *id == d.id)
                .map_or(0, |(_, n)| *n),
            id: d.id,
            name: d.name,
        });
    }
    let mut townships: Vec<(String, String)> = state
        .divisions
        .children(county)
        .filter(|d| d.level == Level::Township)
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect();
    townships.sort();
    Ok(DepartmentsPage {
        csrf: admin.visitor.csrf.clone(),
        notice,
        rows,
        kinds: DepartmentKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label_zh()))
            .collect(),
        townships,
        form,
        errors,
    })
}

pub async fn departments_page(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Query(query): Query<DoneQuery>,
) -> Result<DepartmentsPage, AppError> {
    let notice = query.notice(|done, id| match done {
        "added" => Some(format!(
            "已新增部门（编号 {id}）。可在“分配规则”中把市场主体分给它，在“账户”中为它创建工作人员。"
        )),
        "seeded" => Some(format!("已补齐标准部门，新增 {id} 个。")),
        "complete" => Some("标准部门已齐全，没有新增。".to_owned()),
        _ => None,
    });
    departments_page_for(
        &state,
        &admin,
        &county,
        notice,
        DepartmentForm::default(),
        Errors::default(),
    )
    .await
}

pub async fn add_department(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<DepartmentForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let mut errors = Errors::default();
    let name = clean(&form.name);
    match name.chars().count() {
        0 => errors.add("name", "请填写部门名称"),
        n if n > NAME_MAX => errors.add("name", "部门名称不能超过30个字"),
        _ => {}
    }
    let kind = DepartmentKind::parse(form.kind.trim());
    let township = form.township.trim();
    match (kind, township.is_empty()) {
        (None, _) => errors.add("kind", "请选择部门类型"),
        (Some(DepartmentKind::Township), true) => {
            errors.add("township", "乡镇类部门须选择它负责的乡镇")
        }
        (Some(DepartmentKind::Township), false) => {
            let ok = state.divisions.get(township).is_some_and(|d| {
                d.level == Level::Township && d.parent.as_deref() == Some(&county)
            });
            if !ok {
                errors.add("township", format!("乡镇代码 {township} 不是本县的乡镇"));
            }
        }
        (Some(_), false) => errors.add(
            "township",
            "只有乡镇类部门需要选择乡镇；县直部门和金融办请选择“（不选）”",
        ),
        (Some(_), true) => {}
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        let page = departments_page_for(&state, &admin, &county, None, form, errors).await?;
        return Ok(unprocessable(page));
    };
    let actor = admin.actor();
    let created = departments::create(
        &state.db,
        &departments::NewDepartment {
            county_code: &county,
            name: &name,
            kind,
            township_code: (kind == DepartmentKind::Township).then_some(township),
            actor: &actor,
        },
    )
    .await;
    match created {
        Ok(id) => Ok(done("/admin/departments", &format!("done=added&id={id}"))),
        Err(CreateDepartmentError::Store(e)) => Err(e.into()),
        Err(e) => {
            let field = match e {
                CreateDepartmentError::NameTaken(_) => "name",
                _ => "township",
            };
            errors.add(field, e.to_string());
            let page = departments_page_for(&state, &admin, &county, None, form, errors).await?;
            Ok(unprocessable(page))
        }
    }
}

/// Adds the standard bureaus and township departments the county lacks (a fresh deployment
/// starts with none).
pub async fn seed_departments(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let added =
        departments::seed_county_audited(&state.db, &state.divisions, &county, &admin.actor())
            .await?;
    Ok(if added == 0 {
        done("/admin/departments", "done=complete")
    } else {
        done("/admin/departments", &format!("done=seeded&id={added}"))
    })
}

// ---------------------------------------------------------------------------------------------
// /admin/rules

pub struct RuleRow {
    pub id: i64,
    pub priority: i64,
    pub kind: &'static str,
    pub value: String,
    pub department: String,
}

#[derive(Debug, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    department: String,
    #[serde(default = "default_priority")]
    priority: String,
}

fn default_priority() -> String {
    "100".to_owned()
}

impl Default for RuleForm {
    fn default() -> Self {
        RuleForm {
            csrf: String::new(),
            kind: String::new(),
            value: String::new(),
            department: String::new(),
            priority: default_priority(),
        }
    }
}

/// What "apply now" did, as the page shows it after the redirect.
pub struct ReportView {
    pub assigned: u64,
    pub changed: u64,
    pub unassigned: u64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_rules.html")]
pub struct RulesPage {
    csrf: String,
    notice: Option<String>,
    report: Option<ReportView>,
    rules: Vec<RuleRow>,
    kinds: Vec<(&'static str, &'static str)>,
    departments: Vec<DepartmentOption>,
    form: RuleForm,
    errors: Errors,
}

/// A rule's value in words: the township's name, the section's name, the kind's label.
fn rule_value_label(state: &AppState, kind: MatchKind, value: Option<&str>) -> String {
    let Some(value) = value else {
        return "全部市场主体".to_owned();
    };
    match kind {
        MatchKind::Township => township_name(state, value),
        MatchKind::Industry => value
            .chars()
            .next()
            .and_then(industry_label_zh)
            .map_or_else(|| value.to_owned(), |name| format!("{value} {name}")),
        MatchKind::Kind => EntityKind::parse_code(value)
            .map_or_else(|| value.to_owned(), |k| k.label_zh().to_owned()),
        MatchKind::Any => value.to_owned(),
    }
}

async fn rules_page_for(
    state: &AppState,
    admin: &Admin,
    county: &str,
    notice: Option<String>,
    report: Option<ReportView>,
    form: RuleForm,
    errors: Errors,
) -> Result<RulesPage, AppError> {
    let rules = assignments::list_rules(&state.db, county)
        .await?
        .into_iter()
        .map(|l| RuleRow {
            id: l.rule.id,
            priority: l.rule.priority,
            kind: l.rule.kind.label_zh(),
            value: rule_value_label(state, l.rule.kind, l.rule.value.as_deref()),
            department: l.department_name,
        })
        .collect();
    let departments = departments::list(&state.db, county).await?;
    Ok(RulesPage {
        csrf: admin.visitor.csrf.clone(),
        notice,
        report,
        rules,
        kinds: MatchKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label_zh()))
            .collect(),
        departments: department_options(&departments),
        form,
        errors,
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct RulesQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    assigned: Option<String>,
    #[serde(default)]
    changed: Option<String>,
    #[serde(default)]
    unassigned: Option<String>,
}

pub async fn rules_page(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Query(query): Query<RulesQuery>,
) -> Result<RulesPage, AppError> {
    let id = query.id.as_deref().and_then(parse_id).unwrap_or(0);
    let number = |s: &Option<String>| s.as_deref().and_then(|s| s.trim().parse::<u64>().ok());
    let mut report = None;
    let notice = match query.done.as_deref() {
        Some("added") => Some(format!("已新增规则 {id}。点击“立即按规则分配”后生效。")),
        Some("removed") => Some(format!(
            "已删除规则 {id}。立即按规则分配后，它分配的市场主体改由其他规则分配。"
        )),
        Some("applied") => {
            if let (Some(assigned), Some(changed), Some(unassigned)) = (
                number(&query.assigned),
                number(&query.changed),
                number(&query.unassigned),
            ) {
                report = Some(ReportView {
                    assigned,
                    changed,
                    unassigned,
                });
            }
            None
        }
        _ => None,
    };
    rules_page_for(
        &state,
        &admin,
        &county,
        notice,
        report,
        RuleForm::default(),
        Errors::default(),
    )
    .await
}

pub async fn add_rule(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<RuleForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let departments = departments::list(&state.db, &county).await?;
    let mut errors = Errors::default();
    let kind = MatchKind::parse(form.kind.trim());
    let value = form.value.trim();
    // The store checks the value too; these two say it in the page's words, not the CLI's flags.
    match (kind, value.is_empty()) {
        (None, _) => errors.add(
            "kind",
            "请选择匹配方式：乡镇、行业门类、主体类型或全部（兜底）",
        ),
        (Some(MatchKind::Any), false) => errors.add(
            "value",
            "“全部（兜底）”规则匹配所有市场主体，不需要匹配值，请清空",
        ),
        (Some(k), true) if k != MatchKind::Any => {
            errors.add("value", format!("{}规则需要填写匹配值", k.label_zh()))
        }
        _ => {}
    }
    let department = chosen_department(&departments, &form.department);
    if department.is_none() {
        errors.add("department", "请选择本县的责任部门");
    }
    let priority = form.priority.trim().parse::<i64>().ok().filter(|p| *p >= 0);
    if priority.is_none() {
        errors.add(
            "priority",
            format!(
                "优先级应为不小于 0 的整数（数字越小越先匹配），实际为“{}”",
                form.priority.trim()
            ),
        );
    }
    let (Some(kind), Some(department), Some(priority), true) =
        (kind, department, priority, errors.is_empty())
    else {
        let page = rules_page_for(&state, &admin, &county, None, None, form, errors).await?;
        return Ok(unprocessable(page));
    };
    let added = assignments::add_rule(
        &state.db,
        &county,
        kind,
        Some(value).filter(|v| !v.is_empty()),
        department.id,
        priority,
        &admin.actor(),
    )
    .await;
    match added {
        Ok(id) => return Ok(done("/admin/rules", &format!("done=added&id={id}"))),
        Err(AssignError::DuplicateRule(kind, value)) => errors.add(
            "value",
            format!(
                "已有一条{}规则匹配“{value}”，请先删除它再新增",
                kind.label_zh()
            ),
        ),
        Err(AssignError::UnknownDepartment(_)) => errors.add("department", "请选择本县的责任部门"),
        Err(AssignError::Invalid(message)) => errors.add("value", message),
        Err(AssignError::Store(e)) => return Err(e.into()),
        Err(e @ (AssignError::UnknownEntity(_) | AssignError::UnknownRule(_))) => {
            return Err(AppError::Internal(e.to_string()));
        }
    }
    let page = rules_page_for(&state, &admin, &county, None, None, form, errors).await?;
    Ok(unprocessable(page))
}

pub async fn remove_rule(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let id = parse_id(&id).ok_or(AppError::NotFound)?;
    match assignments::remove_rule(&state.db, &county, id, &admin.actor()).await {
        Ok(()) => Ok(done("/admin/rules", &format!("done=removed&id={id}"))),
        Err(e @ AssignError::UnknownRule(_)) => {
            let notice = Some(format!("{e}（可能已被他人删除）；没有做任何修改。"));
            let page = rules_page_for(
                &state,
                &admin,
                &county,
                notice,
                None,
                RuleForm::default(),
                Errors::default(),
            )
            .await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(AssignError::Store(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

pub async fn apply_rules(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let r = assignments::apply_rules(&state.db, &county, &admin.actor()).await?;
    Ok(done(
        "/admin/rules",
        &format!(
            "done=applied&assigned={}&changed={}&unassigned={}",
            r.assigned, r.changed, r.unassigned
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// /admin/assign

pub struct EntityView {
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub township: String,
    pub industry: String,
    pub department: String,
    pub assigned_by: &'static str,
}

pub struct RejectView {
    pub line: u64,
    pub reason: String,
    pub original: String,
}

pub struct ImportView {
    pub accepted: u64,
    pub changed: u64,
    pub rejected: Vec<RejectView>,
}

#[derive(Debug, Deserialize, Default)]
pub struct ReassignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    uscc: String,
    #[serde(default)]
    department: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_assign.html")]
pub struct AssignPage {
    csrf: String,
    notice: Option<String>,
    /// The entity looked up (or just reassigned).
    entity: Option<EntityView>,
    departments: Vec<DepartmentOption>,
    form: ReassignForm,
    errors: Errors,
    import: Option<ImportView>,
    csv: String,
}

impl AssignPage {
    fn new(admin: &Admin, departments: &[Department]) -> AssignPage {
        AssignPage {
            csrf: admin.visitor.csrf.clone(),
            notice: None,
            entity: None,
            departments: department_options(departments),
            form: ReassignForm::default(),
            errors: Errors::default(),
            import: None,
            csv: String::new(),
        }
    }
}

fn entity_view(state: &AppState, e: assignments::EntityAssignment) -> EntityView {
    EntityView {
        kind: EntityKind::parse_code(&e.kind)
            .map_or_else(|| e.kind.clone(), |k| k.label_zh().to_owned()),
        township: e
            .township_code
            .as_deref()
            .map(|code| township_name(state, code))
            .unwrap_or_default(),
        industry: e
            .industry
            .as_deref()
            .map(|section| rule_value_label(state, MatchKind::Industry, Some(section)))
            .unwrap_or_default(),
        department: e
            .department_name
            .unwrap_or_else(|| "（没有责任部门）".to_owned()),
        assigned_by: match e.assigned_by.as_deref() {
            Some("manual") => "手工分配",
            Some("rule") => "按规则分配",
            _ => "未分配",
        },
        uscc: e.uscc,
        name: e.name,
    }
}

/// A USCC as typed, checked: the normalised code, or the Chinese reason it is not one.
fn parse_uscc(input: &str) -> Result<String, String> {
    Uscc::parse(input)
        .map(|u| u.as_str().to_owned())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Deserialize, Default)]
pub struct AssignQuery {
    #[serde(default)]
    uscc: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn assign_page(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Query(query): Query<AssignQuery>,
) -> Result<Response, AppError> {
    let departments = departments::list(&state.db, &county).await?;
    let mut page = AssignPage::new(&admin, &departments);
    let Some(typed) = query.uscc.filter(|u| !u.trim().is_empty()) else {
        return Ok(page.into_response());
    };
    let found = match parse_uscc(&typed) {
        Ok(uscc) => assignments::entity_assignment(&state.db, &county, &uscc).await?,
        Err(message) => {
            page.errors.add("uscc", message);
            None
        }
    };
    page.form.uscc = typed;
    match found {
        Some(entity) => {
            page.notice = match query.done.as_deref() {
                Some("reassigned") => Some(format!(
                    "已改由“{}”负责，记入审计日志；按规则分配不会再改动它。",
                    entity.department_name.as_deref().unwrap_or("")
                )),
                Some("unchanged") => Some("它已由该部门手工负责，没有做任何修改。".to_owned()),
                _ => None,
            };
            page.form.department = entity
                .department_id
                .map(|id| id.to_string())
                .unwrap_or_default();
            page.entity = Some(entity_view(&state, entity));
            Ok(page.into_response())
        }
        // Not a USCC at all: refused like any bad input.
        None if page.errors.has("uscc") => Ok(unprocessable(page)),
        None => {
            let shown = page.form.uscc.trim().to_uppercase();
            page.errors
                .add("uscc", AssignError::UnknownEntity(shown).to_string());
            Ok((StatusCode::NOT_FOUND, page).into_response())
        }
    }
}

pub async fn reassign(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<ReassignForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let departments = departments::list(&state.db, &county).await?;
    let mut page = AssignPage::new(&admin, &departments);
    let uscc = parse_uscc(&form.uscc)
        .map_err(|message| page.errors.add("uscc", message))
        .ok();
    let department = chosen_department(&departments, &form.department);
    if department.is_none() {
        page.errors.add("department", "请选择本县的责任部门");
    }
    if let (Some(uscc), Some(department)) = (&uscc, department) {
        match assignments::reassign(&state.db, &county, uscc, department.id, &admin.actor()).await {
            Ok(r) => {
                let what = if r.changed { "reassigned" } else { "unchanged" };
                return Ok(done("/admin/assign", &format!("uscc={uscc}&done={what}")));
            }
            Err(e @ AssignError::UnknownEntity(_)) => page.errors.add("uscc", e.to_string()),
            Err(AssignError::UnknownDepartment(_)) => {
                page.errors.add("department", "请选择本县的责任部门")
            }
            Err(AssignError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(AppError::Internal(e.to_string())),
        }
    }
    page.form = form;
    Ok(unprocessable(page))
}

/// Text pasted from a spreadsheet is tab-separated: read it as such and write it back as CSV,
/// so the same reader takes both. Anything else is returned as it is.
fn pasted_as_csv(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.contains('\t') || first.contains(',') {
        return text.to_owned();
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(vec![]);
    for record in reader.records() {
        let Ok(record) = record else {
            return text.to_owned();
        };
        if writer.write_record(&record).is_err() {
            return text.to_owned();
        }
    }
    writer
        .into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// Bulk reassignment from a CSV file or pasted text (the `assign import` format: columns
/// 统一社会信用代码 and 部门). Good lines are written, each audited; the rest are listed with
/// their reasons.
pub async fn import_assignments(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let mut multipart = multipart.map_err(|r| AppError::BadForm(r.status()))?;
    let (mut csrf, mut file, mut text) = (String::new(), Vec::new(), String::new());
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadForm(e.status()))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| AppError::BadForm(e.status()))?;
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => file = bytes.to_vec(),
            "csv" => text = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    admin.visitor.check_csrf(&csrf)?;
    let departments = departments::list(&state.db, &county).await?;
    let mut page = AssignPage::new(&admin, &departments);
    let bytes = if file.is_empty() {
        pasted_as_csv(&text).into_bytes()
    } else {
        file
    };
    page.csv = text;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        page.errors.add(
            "csv",
            "请选择 CSV 文件，或在文本框中粘贴内容（第一行为表头：统一社会信用代码,部门）",
        );
        return Ok(unprocessable(page));
    }
    let parsed = match assignment::read_assignment_csv(&bytes) {
        Ok(parsed) => parsed,
        Err(message) => {
            page.errors.add("csv", message);
            return Ok(unprocessable(page));
        }
    };
    let report =
        assignments::import_assignments(&state.db, &county, &parsed.rows, &admin.actor()).await?;
    page.notice = Some(format!(
        "导入完成：接受 {} 行，其中变更 {} 行；拒绝 {} 行。",
        report.accepted,
        report.changed,
        report.rejected.len()
    ));
    page.import = Some(ImportView {
        accepted: report.accepted,
        changed: report.changed,
        rejected: report
            .rejected
            .into_iter()
            .map(|r| RejectView {
                line: r.line,
                reason: r.reason,
                original: r.original.join(","),
            })
            .collect(),
    });
    Ok(page.into_response())
}

// ---------------------------------------------------------------------------------------------
// /admin/targets

pub struct TargetRow {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub entities: i64,
    pub onboarded: i64,
    /// The target in words, empty when none is set.
    pub target: String,
    /// The target in entities (a share rounded up), when one is set.
    pub target_entities: Option<i64>,
    pub deadline: String,
}

#[derive(Debug, Deserialize, Default)]
pub struct TargetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    share: String,
    #[serde(default)]
    deadline: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_targets.html")]
pub struct TargetsPage {
    csrf: String,
    notice: Option<String>,
    period: String,
    rows: Vec<TargetRow>,
    departments: Vec<DepartmentOption>,
    form: TargetForm,
    errors: Errors,
}

/// The last day of a `YYYY-MM` period, the deadline the form suggests.
fn end_of_period(period: &str) -> Option<time::Date> {
    let (year, month) = period.split_once('-')?;
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    let year: i32 = year.parse().ok()?;
    time::Date::from_calendar_date(year, month, month.length(year)).ok()
}

async fn targets_page_for(
    state: &AppState,
    admin: &Admin,
    county: &str,
    period: String,
    notice: Option<String>,
    mut form: TargetForm,
    errors: Errors,
) -> Result<TargetsPage, AppError> {
    let db = &state.db;
    let targets = assignments::targets_for(db, county, &period).await?;
    let departments = departments::list(db, county).await?;
    let mut rows = Vec::new();
    for d in &departments {
        let stages = progress::stage_counts(db, county, Some(d.id)).await?;
        let target = targets.iter().find(|t| t.department_id == d.id);
        let (words, entities) = match target.map(|t| t.amount) {
            None => (String::new(), None),
            Some(TargetAmount::Count(n)) => (format!("{n} 个"), Some(n)),
            Some(TargetAmount::Share(s)) => {
                let n = (s * stages.total() as f64).ceil() as i64;
                (format!("{}%（{n} 个）", percent(s)), Some(n))
            }
        };
        rows.push(TargetRow {
            id: d.id,
            key: d.id.to_string(),
            name: d.name.clone(),
            entities: stages.total(),
            onboarded: stages.onboarded(),
            target: words,
            target_entities: entities,
            deadline: target.map(|t| t.deadline.to_string()).unwrap_or_default(),
        });
    }
    if form.period.is_empty() {
        form.period.clone_from(&period);
    }
    if form.deadline.is_empty() {
        form.deadline = end_of_period(&period)
            .map(|d| d.to_string())
            .unwrap_or_default();
    }
    Ok(TargetsPage {
        csrf: admin.visitor.csrf.clone(),
        notice,
        period,
        rows,
        departments: department_options(&departments),
        form,
        errors,
    })
}

/// A share as a percentage without needless decimals: 0.8 → "80", 0.125 → "12.5".
fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TargetsQuery {
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn targets_page(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    Query(query): Query<TargetsQuery>,
) -> Result<Response, AppError> {
    let current = calendar::period_of(crate::clock::today());
    let mut errors = Errors::default();
    let period = match query.period.as_deref().filter(|p| !p.trim().is_empty()) {
        None => current,
        Some(p) => parse_period(p).unwrap_or_else(|message| {
            errors.add("pick", message);
            current
        }),
    };
    let form = TargetForm {
        department: query.department.unwrap_or_default(),
        ..TargetForm::default()
    };
    let notice = match query.done.as_deref() {
        Some("set") => Some(format!("已设置 {period} 的目标，记入审计日志。")),
        _ => None,
    };
    let refused = !errors.is_empty();
    let page = targets_page_for(&state, &admin, &county, period, notice, form, errors).await?;
    Ok(if refused {
        unprocessable(page)
    } else {
        page.into_response()
    })
}

/// The amount typed: a count or a share in percent, exactly one of them.
fn parse_amount(count: &str, share: &str, errors: &mut Errors) -> Option<TargetAmount> {
    let (count, share) = (count.trim(), share.trim());
    match (count.is_empty(), share.is_empty()) {
        (false, false) => {
            errors.add("amount", "目标数量和目标比例只能填写一项");
            None
        }
        (true, true) => {
            errors.add("amount", "请填写目标数量或目标比例（二选一）");
            None
        }
        (false, true) => match count.parse::<i64>() {
            Ok(n) if n >= 1 => Some(TargetAmount::Count(n)),
            _ => {
                errors.add("count", format!("目标数量应为正整数，实际为“{count}”"));
                None
            }
        },
        (true, false) => {
            let number = share.trim_end_matches(['%', '％']).trim();
            match number.parse::<f64>() {
                Ok(p) if p.is_finite() && p > 0.0 && p <= 100.0 => {
                    Some(TargetAmount::Share(p / 100.0))
                }
                _ => {
                    errors.add(
                        "share",
                        format!(
                            "目标比例应为大于 0、不超过 100 的百分数（如 80 表示 80%），实际为“{share}”"
                        ),
                    );
                    None
                }
            }
        }
    }
}

pub async fn set_target(
    admin: Admin,
    County(county): County,
    State(state): State<AppState>,
    FormInput(form): FormInput<TargetForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let departments = departments::list(&state.db, &county).await?;
    let mut errors = Errors::default();
    let department = chosen_department(&departments, &form.department);
    if department.is_none() {
        errors.add("department", "请选择本县的责任部门");
    }
    let period = parse_period(&form.period)
        .map_err(|message| errors.add("period", message))
        .ok();
    let amount = parse_amount(&form.count, &form.share, &mut errors);
    let deadline = parse_deadline(&form.deadline)
        .map_err(|message| errors.add("deadline", message))
        .ok();
    let shown = period
        .clone()
        .unwrap_or_else(|| calendar::period_of(crate::clock::today()));
    if let (Some(department), Some(period), Some(amount), Some(deadline), true) =
        (department, &period, amount, deadline, errors.is_empty())
    {
        match assignments::set_target(
            &state.db,
            &county,
            department.id,
            period,
            amount,
            deadline,
            &admin.actor(),
        )
        .await
        {
            Ok(()) => {
                return Ok(done("/admin/targets", &format!("period={period}&done=set")));
            }
            Err(AssignError::Invalid(message)) => errors.add("amount", message),
            Err(AssignError::UnknownDepartment(_)) => {
                errors.add("department", "请选择本县的责任部门")
            }
            Err(AssignError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(AppError::Internal(e.to_string())),
        }
    }
    let page = targets_page_for(&state, &admin, &county, shown, None, form, errors).await?;
    Ok(unprocessable(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_meet_the_official_rules_and_differ() {
        let a = temporary_password("zhang@example.cn");
        let b = temporary_password("zhang@example.cn");
        assert_eq!(a.chars().count(), TEMPORARY_PASSWORD_LEN);
        assert!(check_official_rules(&a, Some("zhang@example.cn")).is_ok());
        assert_ne!(a, b);
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']));
    }

    #[test]
    fn shares_read_as_percentages() {
        let mut errors = Errors::default();
        assert_eq!(
            parse_amount("", "80%", &mut errors),
            Some(TargetAmount::Share(0.8))
        );
        assert_eq!(
            parse_amount(" 12 ", "", &mut errors),
            Some(TargetAmount::Count(12))
        );
        assert!(errors.is_empty());
        assert_eq!(parse_amount("3", "50", &mut errors), None);
        assert!(
            errors
                .get("amount")
                .is_some_and(|e| e.contains("只能填写一项"))
        );
        assert_eq!(parse_amount("", "150", &mut errors), None);
        assert!(errors.has("share"));
        assert_eq!(parse_amount("0", "", &mut errors), None);
        assert!(errors.has("count"));
        assert_eq!(percent(0.8), "80");
        assert_eq!(percent(0.125), "12.5");
    }

    #[test]
    fn pasted_spreadsheet_text_becomes_csv() {
        assert_eq!(
            pasted_as_csv("统一社会信用代码\t部门\nA\t发改局, 二科\n"),
            "统一社会信用代码,部门\nA,\"发改局, 二科\"\n"
        );
        assert_eq!(
            pasted_as_csv("uscc,department\nA,7\n"),
            "uscc,department\nA,7\n"
        );
    }

    #[test]
    fn periods_end_on_their_last_day() {
        assert_eq!(
            end_of_period("2026-02"),
            Some(time::macros::date!(2026 - 02 - 28))
        );
        assert_eq!(end_of_period("2026-13"), None);
    }
}

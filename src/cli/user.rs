//! `user add`: an official's account (admin, leader or a department's staff).

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::config::Settings;
use xinyidai::store::{self, Db};

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// 创建账户（邮箱直接视为已确认）。密码取自环境变量 XYD_NEW_PASSWORD，未设置时从标准输入读取一行
    Add {
        /// 登录邮箱
        #[arg(long)]
        email: String,
        /// 角色：admin（管理员）、leader（县领导）或 staff（部门工作人员，需同时给出 --department）
        #[arg(long)]
        role: String,
        /// staff 所属的责任部门：部门全称或编号（见 `assign rule list` 或 /admin/departments）
        #[arg(long)]
        department: Option<String>,
        /// 显示名称（如“张科长”），在工作台和审计页面上代替邮箱显示
        #[arg(long)]
        name: Option<String>,
    },
}

impl UserAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Add {
            email,
            role,
            department,
            name,
        } = self;
        add_user(
            settings,
            &email,
            &role,
            department.as_deref(),
            name.as_deref(),
        )
        .await
    }
}

/// `user add`: every check runs before the database is touched, so a refusal leaves no trace.
async fn add_user(
    settings: &Settings,
    email: &str,
    role: &str,
    department: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<()> {
    use xinyidai::domain::email::EmailAddress;
    use xinyidai::store::accounts::Role;
    use xinyidai::store::accounts::{self, CreateAccountError, NewAccount};
    let role = match Role::parse(role.trim()) {
        Some(role @ (Role::Admin | Role::Leader | Role::Staff)) => role,
        Some(Role::Owner) => {
            anyhow::bail!("市场主体账户由经营者在网站上登记时自行创建，不能用命令创建")
        }
        None => anyhow::bail!(
            "--role 应为 admin（管理员）、leader（县领导）或 staff（部门工作人员），实际为“{role}”"
        ),
    };
    match (role, department) {
        (Role::Staff, None) => {
            anyhow::bail!("staff 账户必须用 --department 指定所属责任部门（部门全称或编号）")
        }
        (Role::Admin | Role::Leader, Some(_)) => {
            anyhow::bail!("只有 staff 账户属于某个部门；admin 和 leader 不要给出 --department")
        }
        _ => {}
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 40) {
        anyhow::bail!("--name 最多 40 个字");
    }
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("--email 无效：{e}"))?;
    let password = match std::env::var("XYD_NEW_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            eprint!(
                "请输入新账户的密码（至少12位，含大写字母、小写字母、数字、符号中的三类；输入内容会显示在屏幕上）："
            );
            let mut line = String::new();
            let stdin = std::io::stdin();
            stdin
                .read_line(&mut line)
                .context("无法从标准输入读取密码")?;
            // Typed at a terminal, Enter ended the prompt's line; piped in, nothing did.
            if !std::io::IsTerminal::is_terminal(&stdin) {
                eprintln!();
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    xinyidai::security::password::check_official_rules(&password, Some(email.as_str()))
        .map_err(|rule| anyhow::anyhow!("密码不符合要求：{rule}"))?;
    let hash = xinyidai::security::password::PasswordHasher::new(1)
        .hash(&password)
        .await
        .context("计算密码哈希失败")?;
    let db = Db::open(&settings.database_url, 1).await?;
    let department_id = match department {
        None => None,
        Some(key) => {
            let found = store::assignments::find_department(&db, &settings.jurisdiction, key).await;
            match found? {
                Some(d) => Some(d.id),
                None => {
                    db.close().await;
                    anyhow::bail!(
                        "辖区 {} 没有名为或编号为“{key}”的部门；可用 `assign rule list` 或在 /admin/departments 查看",
                        settings.jurisdiction
                    );
                }
            }
        }
    };
    let created = accounts::create_account(
        &db,
        &NewAccount {
            email: email.as_str(),
            password_hash: &hash,
            role,
            department_id,
            display_name: name,
            // The operator typed a password for somebody else: they choose their own at first
            // login. The first admin is usually the operator, who keeps theirs.
            temporary_password: role != Role::Admin,
            actor: "cli",
        },
    )
    .await;
    db.close().await;
    match created {
        Ok(id) => {
            let (label, next) = match role {
                Role::Admin => ("管理员", "现在可以登录。"),
                Role::Leader => ("县领导", "首次登录时须修改密码。"),
                _ => ("部门工作人员", "首次登录时须修改密码。"),
            };
            eprintln!("已创建{label}账户（编号 {id}），邮箱视为已确认，{next}");
            Ok(())
        }
        Err(CreateAccountError::EmailTaken) => {
            anyhow::bail!("这个邮箱已经有账户了，没有做任何修改；请换一个邮箱")
        }
        Err(CreateAccountError::DepartmentMismatch | CreateAccountError::NoSuchDepartment) => {
            anyhow::bail!("部门与角色不符，没有做任何修改")
        }
        Err(CreateAccountError::Store(e)) => Err(e.into()),
    }
}

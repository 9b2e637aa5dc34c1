//! `xinyidai demo`: a fresh database full of plausible market entities, for trying the product.
//!
//! Everything is synthesised from a seed, so two runs with the same seed give the same roster.
//! The names are made up from common characters; any likeness to a real business is chance.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::domain::division::{DivisionTree, Level};
use crate::domain::entity_kind::EntityKind;
use crate::domain::entity_status::EntityStatus;
use crate::domain::roster_entry::RosterEntry;
use crate::domain::uscc::Uscc;

/// Siping's five county-level units; 梨树县 gets the largest share, as the pilot county.
pub const DEMO_COUNTIES: &[(&str, u32)] = &[
    ("220322", 40),
    ("220302", 12),
    ("220303", 12),
    ("220323", 18),
    ("220382", 18),
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "于", "董", "袁", "潘", "蒋", "蔡", "田", "姜", "范", "付", "崔", "丁", "孟", "欧阳", "关",
    "白",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "玉兰", "建国", "建华", "国庆", "春梅",
    "海燕", "雪", "东", "红", "志强", "淑华", "凤芝", "立新", "宝林", "长青", "铁柱", "金凤",
];
const TRADE_NAMES: &[&str] = &[
    "丰收",
    "兴旺",
    "金穗",
    "鑫源",
    "宏达",
    "顺发",
    "盛世",
    "恒泰",
    "福源",
    "瑞丰",
    "北方",
    "黑土地",
    "东辽河",
    "玉米香",
    "惠民",
    "诚信",
    "四季",
    "万家",
    "益农",
    "新禾",
    "长丰",
    "吉禾",
    "润田",
    "旺达",
    "佳和",
    "聚鑫",
    "永盛",
    "广源",
    "民安",
    "天成",
    "绿野",
    "嘉禾",
    "金谷",
    "富民",
    "同心",
];
/// Characters that make two-character trade names (字号) when the list above runs out.
const TRADE_CHARS: &[&str] = &[
    "安", "邦", "宝", "北", "博", "昌", "晨", "诚", "春", "达", "德", "鼎", "东", "丰", "福", "富",
    "冠", "广", "国", "海", "汉", "禾", "和", "恒", "弘", "宏", "华", "辉", "惠", "吉", "佳", "嘉",
    "金", "锦", "晶", "景", "久", "聚", "凯", "康", "坤", "力", "利", "联", "林", "隆", "茂", "美",
    "明", "鹏", "平", "祺", "千", "庆", "瑞", "润", "森", "盛", "顺", "泰", "天", "通", "旺", "伟",
    "祥", "鑫", "信", "兴", "亚", "阳", "益", "银", "永", "优", "裕", "远", "源", "正", "志", "众",
];
/// (GB/T 4754 section, word in an enterprise name, weight for enterprises)
const ENTERPRISE_TRADES: &[(char, &str, u32)] = &[
    ('A', "农业发展", 10),
    ('C', "粮食加工", 8),
    ('C', "农机制造", 4),
    ('C', "食品", 5),
    ('E', "建筑工程", 8),
    ('F', "商贸", 20),
    ('F', "农资", 8),
    ('G', "物流", 6),
    ('H', "餐饮管理", 5),
    ('I', "网络科技", 4),
    ('L', "企业管理咨询", 4),
    ('M', "农业技术", 3),
    ('K', "物业服务", 3),
    ('O', "家政服务", 3),
];
const ENTERPRISE_FORMS: &[&str] = &[
    "有限公司",
    "有限公司",
    "有限公司",
    "有限责任公司",
    "股份有限公司",
];
/// (section, shop word) for 个体工商户.
const SHOP_TRADES: &[(char, &str)] = &[
    ('F', "超市"),
    ('F', "便利店"),
    ('F', "五金商店"),
    ('F', "农资商店"),
    ('F', "粮食经销部"),
    ('F', "服装店"),
    ('H', "饭店"),
    ('H', "烧烤店"),
    ('H', "早餐店"),
    ('O', "理发店"),
    ('O', "汽车修理部"),
    ('O', "家电维修部"),
    ('R', "文印社"),
    ('A', "种植场"),
    ('A', "养殖场"),
];
const COOP_TRADES: &[&str] = &[
    "种植",
    "玉米种植",
    "水稻种植",
    "养殖",
    "农机",
    "蔬菜",
    "食用菌",
    "杂粮",
];
/// USCC alphabet without the letters that old organisation codes rarely use.
const ORG_BODY_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if roll < w {
            return item;
        }
        roll -= w;
    }
    &items[items.len() - 1]
}

/// A trade name (字号): a common one, or two characters drawn at random.
fn trade_name(rng: &mut StdRng) -> String {
    if rng.random_range(0..3) == 0 {
        (*pick(rng, TRADE_NAMES)).to_owned()
    } else {
        format!("{}{}", pick(rng, TRADE_CHARS), pick(rng, TRADE_CHARS))
    }
}

fn person_name(rng: &mut StdRng) -> String {
    format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
}

/// The place prefix in names: 梨树县, 双辽市, 四平市铁西区 …
fn name_prefix(tree: &DivisionTree, county: &str) -> String {
    let name = tree.get(county).map_or("", |d| d.name.as_str());
    if name.ends_with('区') {
        format!("四平市{name}")
    } else {
        name.to_owned()
    }
}

/// `n` distinct entities spread over [`DEMO_COUNTIES`], deterministic for a given `seed`.
pub fn synthesise(tree: &DivisionTree, n: usize, seed: u64, today: time::Date) -> Vec<RosterEntry> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::with_capacity(n);
    // Names are unique within a county's register, as the registration authority requires.
    let mut names = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let townships: Vec<(&str, Vec<&crate::domain::division::Division>)> = DEMO_COUNTIES
        .iter()
        .map(|(code, _)| {
            let t = tree
                .children(code)
                .filter(|d| d.level == Level::Township)
                .collect();
            (*code, t)
        })
        .collect();
    let first_day =
        time::Date::from_calendar_date(1995, time::Month::January, 1).unwrap_or(time::Date::MIN);
    let span_days = (today - first_day).whole_days().max(1);

    // Unique names get rare in a big roster; past this many draws, allow repeats rather than spin.
    let patience = n.saturating_mul(20);
    let mut draws = 0usize;
    while out.len() < n {
        draws += 1;
        let (county, _) = *weighted(&mut rng, DEMO_COUNTIES, |(_, w)| *w);
        let Some((_, towns)) = townships.iter().find(|(c, _)| *c == county) else {
            continue;
        };
        let township = (!towns.is_empty()).then(|| *pick(&mut rng, towns));
        let prefix = name_prefix(tree, county);
        // Roughly the national mix: two thirds 个体工商户, a quarter enterprises, some co-ops.
        let roll = rng.random_range(0..100);
        let (type_code, name, industry) = if roll < 66 {
            let (section, word) = *pick(&mut rng, SHOP_TRADES);
            let town = township.map_or(prefix.as_str(), |t| t.name.as_str());
            let owner = person_name(&mut rng);
            let style = rng.random_range(0..3);
            let name = match style {
                0 => format!("{town}{}{word}", trade_name(&mut rng)),
                1 => format!("{prefix}{town}{owner}{word}"),
                _ => format!("{prefix}{}{word}（个体工商户）", trade_name(&mut rng)),
            };
            ("92", name, section)
        } else if roll < 94 {
            let (section, word, _) = *weighted(&mut rng, ENTERPRISE_TRADES, |t| t.2);
            let name = format!(
                "{prefix}{}{word}{}",
                trade_name(&mut rng),
                pick(&mut rng, ENTERPRISE_FORMS)
            );
            ("91", name, section)
        } else {
            let town = township.map_or("", |t| t.name.as_str());
            let name = format!(
                "{prefix}{town}{}{}专业合作社",
                trade_name(&mut rng),
                pick(&mut rng, COOP_TRADES)
            );
            ("93", name, 'A')
        };
        let body: String = (0..8)
            .map(|_| char::from(*pick(&mut rng, ORG_BODY_CHARS)))
            .collect();
        let Ok(uscc) = Uscc::assemble(type_code, county, &body) else {
            continue;
        };
        if seen.contains(uscc.as_str()) || (!names.insert(name.clone()) && draws < patience) {
            continue;
        }
        seen.insert(uscc.as_str().to_owned());
        let status_roll = rng.random_range(0..100);
        let status = match status_roll {
            0..=93 => EntityStatus::Active,
            94..=96 => EntityStatus::Cancelled,
            97..=98 => EntityStatus::Suspended,
            _ => EntityStatus::Revoked,
        };
        let founded = first_day + time::Duration::days(rng.random_range(0..span_days));
        let address = township.map(|t| {
            format!(
                "{prefix}{}{}村{}号",
                t.name,
                trade_name(&mut rng),
                rng.random_range(1..300)
            )
        });
        out.push(RosterEntry {
            kind: uscc.entity_kind(),
            uscc,
            name,
            legal_rep: person_name(&mut rng),
            county_code: county.to_owned(),
            township_code: township.map(|t| t.code.clone()),
            industry: Some(industry),
            address,
            founded: Some(founded),
            status,
        });
    }
    out
}

/// Share of each kind in a synthesised roster, for the demo's start-up summary.
pub fn kind_counts(entries: &[RosterEntry]) -> Vec<(EntityKind, usize)> {
    let mut counts: Vec<(EntityKind, usize)> = Vec::new();
    for e in entries {
        match counts.iter_mut().find(|(k, _)| *k == e.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.kind, 1)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
}

/// The Chinese headers a county's market-regulation bureau exports, in the order we write them.
pub const ROSTER_HEADERS: [&str; 8] = [
    "统一社会信用代码",
    "名称",
    "法定代表人",
    "乡镇代码",
    "行业门类",
    "住所",
    "成立日期",
    "登记状态",
];

/// One roster CSV record for `e`, in [`ROSTER_HEADERS`] order.
pub fn roster_record(e: &RosterEntry) -> [String; 8] {
    [
        e.uscc.as_str().to_owned(),
        e.name.clone(),
        e.legal_rep.clone(),
        e.township_code.clone().unwrap_or_default(),
        e.industry.map(String::from).unwrap_or_default(),
        e.address.clone().unwrap_or_default(),
        e.founded.map(|d| d.to_string()).unwrap_or_default(),
        e.status.label_zh().to_owned(),
    ]
}

/// Writes `entries` as a UTF-8 roster CSV that `import-roster` reads back unchanged.
pub fn write_roster_csv<W: std::io::Write>(out: W, entries: &[RosterEntry]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(ROSTER_HEADERS)?;
    for e in entries {
        w.write_record(roster_record(e))?;
    }
    w.flush()?;
    Ok(())
}

/// The password of every account [`seed_ready_registrations`] makes (it meets the rules).
pub const SEEDED_PASSWORD: &str = "Lishu-2026-seeded";

/// `count` active entities of 梨树县 for [`seed_ready_registrations`], deterministic for a
/// given `seed` (and day): a test can learn the USCCs before seeding, e.g. to make the
/// simulator reject one of them.
pub fn ready_entities(count: usize, seed: u64) -> Vec<RosterEntry> {
    let tree = DivisionTree::seed();
    let today = crate::clock::today();
    // About 40 % land in 梨树县 and 94 % are active; draw until there are enough.
    let mut draw = count.saturating_mul(3).saturating_add(32);
    loop {
        let picked: Vec<RosterEntry> = synthesise(&tree, draw, seed, today)
            .into_iter()
            .filter(|e| e.county_code == "220322" && e.status == EntityStatus::Active)
            .take(count)
            .collect();
        if picked.len() == count {
            return picked;
        }
        draw = draw.saturating_mul(2);
    }
}

/// Makes `count` registrations ready for the province, as if each owner had registered through
/// the form: the entities are put in the roster (from [`ready_entities`] with `seed`), and for
/// each one `store::registrations::create` writes an account (`email(n)` for the `n`-th, from 0;
/// password [`SEEDED_PASSWORD`]), a registration that passed the roster check (`matched`), and
/// the signature of the current agreement, which queues its outbox row in the same
/// transaction. Returns the registration ids in the order of the entities.
///
/// For load tests, the crash drill and `scripts/bench sync`: every account shares ONE argon2
/// hash (hashing per row would take minutes for a thousand), and ID numbers are made-up valid
/// resident ID numbers of 梨树县 (GB 11643 check character), sealed with `vault`.
///
/// # Errors
/// A database error, no published agreement, or an email or USCC already taken.
pub async fn seed_ready_registrations(
    db: &crate::store::Db,
    vault: &crate::security::id_vault::IdVault,
    count: usize,
    seed: u64,
    email: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<i64>> {
    seed_registrations(db, vault, count, 0, seed, email, SeedShape::Ready).await
}

/// What the seeded registrations look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedShape {
    /// Matched the roster and signed: queued for the province.
    Ready,
    /// Failed the roster check on the legal representative and asked for manual review; not
    /// signed yet.
    AwaitingReview,
}

/// [`seed_ready_registrations`] for any [`SeedShape`], skipping the first `skip` entities of
/// [`ready_entities`] (so two calls with the same seed use different entities of one roster).
///
/// # Errors
/// As [`seed_ready_registrations`].
pub async fn seed_registrations(
    db: &crate::store::Db,
    vault: &crate::security::id_vault::IdVault,
    count: usize,
    skip: usize,
    seed: u64,
    email: impl Fn(usize) -> String,
    shape: SeedShape,
) -> anyhow::Result<Vec<i64>> {
    use anyhow::Context as _;

    use crate::domain::resident_id::ResidentId;
    use crate::store::{self, registrations};

    let entries: Vec<RosterEntry> = ready_entities(skip + count, seed)
        .into_iter()
        .skip(skip)
        .collect();
    for batch in entries.chunks(5_000) {
        store::entities::upsert_batch(db, batch).await?;
    }
    let agreement = store::agreements::current(db)
        .await?
        .context("no agreement is published")?;
    let password_hash = crate::security::password::PasswordHasher::new(1)
        .hash(SEEDED_PASSWORD)
        .await?;
    let first_birth = time::macros::date!(1960 - 01 - 01);
    let mut ids = Vec::with_capacity(count);
    for (n, entry) in entries.iter().enumerate() {
        let roster = store::entities::by_uscc(db, entry.uscc.as_str())
            .await?
            .context("a seeded entity is missing from the roster")?;
        let offset = i64::try_from(n % 15_000).unwrap_or(0);
        let sequence = u16::try_from(n % 1_000).unwrap_or(0);
        let id_number = ResidentId::assemble(
            "220322",
            first_birth + time::Duration::days(offset),
            sequence,
        )
        .context("assembling a resident ID number")?;
        let sealed = vault.seal(&id_number);
        let new = registrations::NewRegistration {
            email: email(n),
            password_hash: password_hash.clone(),
            uscc: entry.uscc.as_str().to_owned(),
            entity_id: Some(roster.id),
            entity_name: entry.name.clone(),
            // Someone new took over: the name the owner gives differs from the roster's.
            legal_rep_name: match shape {
                SeedShape::Ready => entry.legal_rep.clone(),
                SeedShape::AwaitingReview => format!("{}新", entry.legal_rep),
            },
            legal_rep_id_sealed: sealed.cipher,
            legal_rep_id_lookup: sealed.lookup,
            legal_rep_id_masked: id_number.masked(),
            mobile: format!("138{:08}", n % 100_000_000),
            referral_code: None,
            verification: match shape {
                SeedShape::Ready => registrations::Verification::Matched,
                SeedShape::AwaitingReview => registrations::Verification::ReviewRequested,
            },
            mismatch: match shape {
                SeedShape::Ready => Vec::new(),
                SeedShape::AwaitingReview => {
                    vec![crate::application::registration::Mismatch::LegalRepName.code()]
                }
            },
            review_note: (shape == SeedShape::AwaitingReview)
                .then(|| "法定代表人已变更，名录尚未更新".to_owned()),
            signature: (shape == SeedShape::Ready).then(|| registrations::SignatureEvidence {
                version: agreement.version.clone(),
                digest: agreement.digest.clone(),
                signer_name: entry.legal_rep.clone(),
                ip: "127.0.0.1".to_owned(),
                user_agent: "xinyidai seed_ready_registrations".to_owned(),
            }),
        };
        let created = registrations::create(db, &new)
            .await
            .with_context(|| format!("seeding registration {n} ({})", entry.uscc.as_str()))?;
        ids.push(created.registration_id);
    }
    Ok(ids)
}

/// The demo's staff member and leader (local demo only: the passwords are printed).
pub const DEMO_STAFF_EMAIL: &str = "staff@demo.xinyidai.invalid";
pub const DEMO_STAFF_PASSWORD: &str = "Demo-Staff-2026";
pub const DEMO_LEADER_EMAIL: &str = "leader@demo.xinyidai.invalid";
pub const DEMO_LEADER_PASSWORD: &str = "Demo-Leader-2026";

/// What [`seed_county_work`] made, for the demo's start-up message.
#[derive(Debug, Clone)]
pub struct CountyWork {
    pub staff_department: String,
    pub assigned: u64,
    pub ready: usize,
    pub awaiting_review: usize,
}

/// A county at work for the demo: assignment rules (each township to its own department,
/// cooperatives to 农业农村局, anything else to 市场监管局), this month's targets, registrations
/// on their way to the province and some awaiting manual review, and a staff member for the
/// township with the most entities.
///
/// # Errors
/// A database error or no published agreement.
pub async fn seed_county_work(
    db: &crate::store::Db,
    vault: &crate::security::id_vault::IdVault,
    county: &str,
    seed: u64,
    today: time::Date,
) -> anyhow::Result<CountyWork> {
    use anyhow::Context as _;

    use crate::domain::assignment_rule::{MatchKind, TargetAmount};
    use crate::store::accounts::{NewAccount, Role};
    use crate::store::{self, assignments};

    const ACTOR: &str = "cli";
    const READY: usize = 240;
    // The same seed as the demo roster: these are entities already in it.
    let ready = seed_registrations(
        db,
        vault,
        READY,
        0,
        seed,
        |n| format!("owner{n}@demo.xinyidai.invalid"),
        SeedShape::Ready,
    )
    .await?
    .len();
    let awaiting_review = seed_registrations(
        db,
        vault,
        12,
        READY,
        seed,
        |n| format!("review{n}@demo.xinyidai.invalid"),
        SeedShape::AwaitingReview,
    )
    .await?
    .len();

    let departments = store::departments::list(db, county).await?;
    let named = |name: &str| departments.iter().find(|d| d.name == name).map(|d| d.id);
    for d in &departments {
        if let Some(code) = &d.township_code {
            assignments::add_rule(db, county, MatchKind::Township, Some(code), d.id, 10, ACTOR)
                .await?;
        }
    }
    if let Some(agri) = named("农业农村局") {
        assignments::add_rule(
            db,
            county,
            MatchKind::Kind,
            Some("farmer_cooperative"),
            agri,
            5,
            ACTOR,
        )
        .await?;
    }
    if let Some(market) = named("市场监管局") {
        assignments::add_rule(db, county, MatchKind::Any, None, market, 100, ACTOR).await?;
    }
    let report = assignments::apply_rules(db, county, ACTOR).await?;

    // This month's targets: a third of each department's entities by the month's last day.
    let period = crate::domain::calendar::period_of(today);
    let next_month = today
        .replace_day(1)
        .ok()
        .and_then(|first| first.checked_add(time::Duration::days(32)))
        .and_then(|d| d.replace_day(1).ok())
        .context("computing the end of the month")?;
    let deadline = next_month - time::Duration::days(1);
    for d in &departments {
        assignments::set_target(
            db,
            county,
            d.id,
            &period,
            TargetAmount::Share(0.3),
            deadline,
            ACTOR,
        )
        .await?;
    }

    // The staff member works for the township with the most entities.
    let busiest = store::progress::busiest_department(db, county)
        .await?
        .context("no department has entities")?;
    let hash = crate::security::password::PasswordHasher::new(1)
        .hash(DEMO_STAFF_PASSWORD)
        .await?;
    store::accounts::create_account(
        db,
        &NewAccount {
            email: DEMO_STAFF_EMAIL,
            password_hash: &hash,
            role: Role::Staff,
            department_id: Some(busiest.0),
            display_name: Some("演示工作人员"),
            temporary_password: false,
            actor: ACTOR,
        },
    )
    .await
    .context("creating the demo staff member")?;
    let hash = crate::security::password::PasswordHasher::new(1)
        .hash(DEMO_LEADER_PASSWORD)
        .await?;
    store::accounts::create_account(
        db,
        &NewAccount {
            email: DEMO_LEADER_EMAIL,
            password_hash: &hash,
            role: Role::Leader,
            department_id: None,
            display_name: Some("演示县领导"),
            temporary_password: false,
            actor: ACTOR,
        },
    )
    .await
    .context("creating the demo leader")?;
    Ok(CountyWork {
        staff_department: busiest.1,
        assigned: report.changed,
        ready,
        awaiting_review,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> time::Date {
        time::macros::date!(2026 - 11 - 29)
    }

    #[test]
    fn synthesised_entities_are_valid_distinct_and_placed_in_their_county() {
        let tree = DivisionTree::seed();
        let entries = synthesise(&tree, 3_000, 7, today());
        assert_eq!(entries.len(), 3_000);
        let mut usccs = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for e in &entries {
            assert!(usccs.insert(e.uscc.as_str().to_owned()));
            assert!(names.insert(e.name.clone()), "{} twice", e.name);
            assert_eq!(Uscc::parse(e.uscc.as_str()).as_ref(), Ok(&e.uscc));
            assert_eq!(e.uscc.division_code(), e.county_code);
            let township = e.township_code.as_deref().unwrap_or_default();
            assert!(tree.is_within(township, &e.county_code), "{township}");
            assert!(e.founded.is_some_and(|d| d <= today()));
        }
        for (county, _) in DEMO_COUNTIES {
            assert!(
                entries.iter().any(|e| e.county_code == *county),
                "{county} missing"
            );
        }
    }

    #[test]
    fn the_mix_is_mostly_individual_businesses_then_enterprises_then_cooperatives() {
        let entries = synthesise(&DivisionTree::seed(), 5_000, 1, today());
        let counts = kind_counts(&entries);
        let kinds: Vec<EntityKind> = counts.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                EntityKind::IndividualBusiness,
                EntityKind::Enterprise,
                EntityKind::FarmerCooperative
            ]
        );
        assert!(counts[2].1 > 100, "{counts:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_roster() {
        let tree = DivisionTree::seed();
        let a = synthesise(&tree, 200, 42, today());
        let b = synthesise(&tree, 200, 42, today());
        let names = |v: &[RosterEntry]| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
    }
}

//! Configuration from variables and a file, with every problem named at once.

use std::net::SocketAddr;
use std::time::Duration;

use grove_kit::config::{ConfigLoader, ProblemKind, Source};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Live,
    Dry,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Database {
    url: String,
    pool: u32,
    #[serde(default)]
    ssl: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Config {
    listen: SocketAddr,
    mode: Mode,
    db: Database,
    peers: Vec<String>,
    timeout: Duration,
    ratio: Option<f64>,
    #[serde(default = "default_workers")]
    workers: usize,
}

fn default_workers() -> usize {
    8
}

fn complete() -> Vec<(&'static str, &'static str)> {
    vec![
        ("APP_LISTEN", "127.0.0.1:4000"),
        ("APP_MODE", "LIVE"),
        ("APP_DB_URL", "postgres://db/app"),
        ("APP_DB_POOL", "10"),
        ("APP_PEERS", "a@host, b@host"),
        ("APP_TIMEOUT", "1m 30s"),
        ("UNRELATED", "ignored"),
    ]
}

#[test]
fn a_complete_environment_loads_with_defaults_and_options() {
    let config: Config = ConfigLoader::new("APP").vars(complete()).load().unwrap();
    assert_eq!(
        config,
        Config {
            listen: "127.0.0.1:4000".parse().unwrap(),
            mode: Mode::Live,
            db: Database {
                url: "postgres://db/app".into(),
                pool: 10,
                ssl: false
            },
            peers: vec!["a@host".into(), "b@host".into()],
            timeout: Duration::from_secs(90),
            ratio: None,
            workers: 8,
        }
    );
}

#[test]
fn every_missing_and_malformed_variable_is_named_at_once() {
    let error = ConfigLoader::new("APP")
        .vars([
            ("APP_LISTEN", "localhost"),
            ("APP_MODE", "sometimes"),
            ("APP_DB_POOL", "-1"),
            ("APP_TIMEOUT", "forever"),
            ("APP_RATIO", "half"),
            ("APP_WORKERS", "many"),
        ])
        .load::<Config>()
        .unwrap_err();
    let named: Vec<(&str, &str)> = error
        .problems
        .iter()
        .map(|p| {
            let kind = match p.kind {
                ProblemKind::Missing { .. } => "missing",
                ProblemKind::Malformed { .. } => "malformed",
                ProblemKind::Invalid(_) => "invalid",
            };
            (p.variable.as_str(), kind)
        })
        .collect();
    assert_eq!(
        named,
        [
            ("APP_LISTEN", "malformed"),
            ("APP_MODE", "malformed"),
            ("APP_DB_URL", "missing"),
            ("APP_DB_POOL", "malformed"),
            ("APP_PEERS", "missing"),
            ("APP_TIMEOUT", "malformed"),
            ("APP_RATIO", "malformed"),
            ("APP_WORKERS", "malformed"),
        ]
    );
    let message = error.to_string();
    assert!(
        message.starts_with("the configuration is invalid (8 problems)"),
        "{message}"
    );
    assert!(
        message.contains("APP_MODE is \"sometimes\", which is not one of live, dry"),
        "{message}"
    );
    assert!(message.contains("APP_DB_URL is not set"), "{message}");
    assert!(
        message.contains("APP_LISTEN is \"localhost\", which is not socket address"),
        "{message}"
    );
}

#[test]
fn a_file_supplies_values_and_variables_override_it() {
    let dir = std::env::temp_dir().join(format!("grove-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.toml");
    std::fs::write(
        &path,
        r#"
listen = "0.0.0.0:8080"
mode = "dry"
peers = ["x@h", "y@h"]
timeout = "5s"
[db]
url = "postgres://file/app"
pool = "lots"
"#,
    )
    .unwrap();
    let error = ConfigLoader::new("APP")
        .file(&path)
        .vars([("APP_MODE", "live")])
        .load::<Config>()
        .unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(error.problems[0].variable, "APP_DB_POOL");
    assert!(
        matches!(&error.problems[0].kind, ProblemKind::Malformed { source: Source::File(p), .. } if *p == path)
    );
    let config: Config = ConfigLoader::new("APP")
        .file(&path)
        .vars([("APP_MODE", "live"), ("APP_DB_POOL", "3")])
        .load()
        .unwrap();
    assert_eq!(
        (config.mode, config.db.pool, config.db.url.as_str()),
        (Mode::Live, 3, "postgres://file/app")
    );
    assert_eq!(config.peers, ["x@h", "y@h"]);
    let missing = ConfigLoader::new("APP")
        .file(dir.join("absent.toml"))
        .load::<Config>()
        .unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_application_check_reports_its_own_problems() {
    let error = ConfigLoader::new("APP")
        .vars(complete())
        .load_checked(|config: &Config| {
            let mut problems = Vec::new();
            if config.db.pool > 5 {
                problems.push((
                    "APP_DB_POOL".to_string(),
                    "at most 5 connections are allowed".to_string(),
                ));
            }
            problems
        })
        .unwrap_err();
    assert_eq!(error.to_string(), "the configuration is invalid (1 problem); fix these and start again:\n  - APP_DB_POOL: at most 5 connections are allowed");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tuning {
    #[serde(default)]
    pool: u32,
    pool_size: Option<u32>,
    db: Option<Database>,
}

#[test]
fn a_default_field_named_like_the_start_of_another_variable_keeps_its_default() {
    let tuning: Tuning = ConfigLoader::new("APP")
        .vars([("APP_POOL_SIZE", "4")])
        .load()
        .unwrap();
    assert_eq!(
        (tuning.pool, tuning.pool_size, tuning.db),
        (0, Some(4), None)
    );
}

#[test]
fn an_optional_nested_struct_is_read_when_its_variables_are_set() {
    let tuning: Tuning = ConfigLoader::new("APP")
        .vars([("APP_DB_URL", "postgres://x"), ("APP_DB_POOL", "2")])
        .load()
        .unwrap();
    assert_eq!(
        tuning.db,
        Some(Database {
            url: "postgres://x".into(),
            pool: 2,
            ssl: false
        })
    );
    let error = ConfigLoader::new("APP")
        .vars([("APP_DB_URL", "postgres://x")])
        .load::<Tuning>()
        .unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(error.problems[0].variable, "APP_DB_POOL");
}

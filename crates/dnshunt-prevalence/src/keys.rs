//! The keys values are counted under: one spelling per host, domain, address, image and
//! command line, so that `WS-ACCT-07.corp.example.com` and `ws-acct-07`, or
//! `\\?\C:\Windows\System32\CMD.EXE` and `c:\windows\system32\cmd.exe`, are one key.

use std::borrow::Cow;
use std::net::IpAddr;

use dnshunt_core::{parse_ip, DnsName};

/// A host's key (`WS-ACCT-07.corp.example.com` and `ws-acct-07` are one host): the core's one
/// notion of the same host, shared with incidents.
pub use dnshunt_core::host_key;

/// An image path's key: lower case, `/` turned into `\`, surrounding whitespace trimmed, and the
/// Win32 and NT namespace prefixes removed (`\\?\C:\x.exe` and `\??\C:\x.exe` → `c:\x.exe`;
/// `\\?\UNC\server\share\x.exe` → `\\server\share\x.exe`), so Windows paths compare
/// case-insensitively and as the file system sees them.
pub fn image_key(path: &str) -> String {
    let mut out = String::new();
    image_key_into(path, &mut out);
    out
}

pub(crate) fn image_key_into(path: &str, out: &mut String) {
    out.clear();
    let path = path.trim();
    if path.is_ascii() && !path.contains('/') {
        // The common case, without decoding characters: copy, lower-case in place.
        out.push_str(path);
        out.make_ascii_lowercase();
    } else {
        lower_into(path, out, |c| if c == '/' { Some('\\') } else { None });
    }
    for (prefix, replacement) in [(r"\\?\unc\", r"\\"), (r"\??\unc\", r"\\"), (r"\\?\", ""), (r"\??\", "")] {
        if out.starts_with(prefix) {
            out.replace_range(..prefix.len(), replacement);
            break;
        }
    }
}

/// A command line's key: lower case, runs of whitespace collapsed into one space, trimmed.
/// Case-insensitive like the Windows programs it starts; quoting is kept, because it changes
/// what the line means.
pub fn command_line_key(command_line: &str) -> String {
    let mut out = String::new();
    command_line_key_into(command_line, &mut out);
    out
}

pub(crate) fn command_line_key_into(command_line: &str, out: &mut String) {
    out.clear();
    for word in command_line.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            out.push_str(word);
        } else {
            lower_into(word, out, |_| None);
        }
    }
    // ASCII words were copied as they are (faster than character by character).
    out.make_ascii_lowercase();
}

/// Appends `text` lower-cased (ASCII fast, Unicode when needed), with `map` replacing chosen
/// characters first.
fn lower_into(text: &str, out: &mut String, map: impl Fn(char) -> Option<char>) {
    out.reserve(text.len());
    for c in text.chars() {
        let c = map(c).unwrap_or(c);
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// The domain key of a query: the core's one notion ([`DnsName::domain_key`]).
pub(crate) fn query_domain(name: &DnsName) -> Option<&str> {
    name.domain_key()
}

/// A name with a dot that is not an address literal (lookups of `10.1.2.3` name no domain).
fn is_multi_label_name(name: &str) -> bool {
    name.contains('.') && name.parse::<IpAddr>().is_err()
}

/// The domain key of any name as a user would type it (`WWW.Example.COM.` → `example.com`).
pub fn domain_key(name: &str) -> Option<String> {
    let name = DnsName::new(name);
    query_domain(&name).map(str::to_owned)
}

/// The domain key of an answer name (a CNAME target): the same rule as [`query_domain`], without
/// building a `DnsName` (an allocation) for the lower-case ASCII names the answer parser gives.
pub(crate) fn answer_domain(name: &str) -> Option<Cow<'_, str>> {
    if !name.is_ascii() || name.bytes().any(|b| b.is_ascii_uppercase()) || name.ends_with('.') || name.trim() != name {
        return domain_key(name).map(Cow::Owned);
    }
    let bytes = name.as_bytes();
    // As `DnsName`: a registered domain only below a known public suffix.
    let registered = match psl::suffix(bytes) {
        Some(suffix) if suffix.is_known() && suffix.as_bytes().len() < bytes.len() => psl::domain(bytes).map(|d| &name[name.len() - d.as_bytes().len()..]),
        _ => None,
    };
    match registered {
        Some(domain) => Some(Cow::Borrowed(domain)),
        None => Some(name).filter(|n| is_multi_label_name(n)).map(Cow::Borrowed),
    }
}

/// An address as it is counted: `::ffff:`-mapped IPv4 as IPv4.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address key from text (`::ffff:1.2.3.4`, `fe80::1%12`, ` 10.0.0.1 `).
pub(crate) fn address_key(text: &str) -> Option<IpAddr> {
    parse_ip(text).map(canonical_ip)
}

/// The lower-case file name of an image path or key (`c:\x\cmd.exe` → `cmd.exe`).
pub(crate) fn file_name(path_key: &str) -> &str {
    path_key.rsplit(['\\', '/']).next().unwrap_or(path_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_short_and_fully_qualified_are_one_host() {
        assert_eq!(host_key("WS-ACCT-07.corp.example.com"), "ws-acct-07");
        assert_eq!(host_key("ws-acct-07"), "ws-acct-07");
        assert_eq!(host_key(" WS-ACCT-07.corp.example.com. "), "ws-acct-07");
        assert_eq!(host_key("WS-ACCT-07."), "ws-acct-07");
        assert_eq!(host_key("ÄRZTE-PC.Praxis.local"), "ärzte-pc");
        assert_eq!(host_key("   "), "");
        assert_eq!(host_key("."), "");
    }

    #[test]
    fn host_addresses_are_kept_whole() {
        assert_eq!(host_key("10.1.2.3"), "10.1.2.3");
        assert_eq!(host_key(" 10.1.2.3. "), "10.1.2.3");
        assert_eq!(host_key("FE80::1"), "fe80::1");
        assert_eq!(host_key("::ffff:10.1.2.3"), "10.1.2.3");
    }

    #[test]
    fn image_paths_compare_case_insensitively() {
        assert_eq!(
            image_key(r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.EXE"),
            r"c:\windows\system32\windowspowershell\v1.0\powershell.exe"
        );
        assert_eq!(image_key(r"\\?\C:\Windows\System32\cmd.exe"), r"c:\windows\system32\cmd.exe");
        assert_eq!(image_key(r"\??\C:\Windows\System32\conhost.exe"), r"c:\windows\system32\conhost.exe");
        assert_eq!(image_key("C:/Users/Bob/AppData/x.exe"), r"c:\users\bob\appdata\x.exe");
        assert_eq!(image_key(r"\\?\UNC\FileSrv\Share\tool.exe"), r"\\filesrv\share\tool.exe");
        assert_eq!(image_key(r"\\FileSrv\Share\tool.exe"), r"\\filesrv\share\tool.exe");
        assert_eq!(image_key(r" C:\ÜBER\Ä.exe "), r"c:\über\ä.exe");
        assert_eq!(file_name(&image_key(r"C:\Windows\CMD.exe")), "cmd.exe");
    }

    #[test]
    fn command_lines_collapse_whitespace_and_case() {
        assert_eq!(
            command_line_key("  PowerShell.exe   -NoP\t-W Hidden\r\n -Enc AAAA "),
            "powershell.exe -nop -w hidden -enc aaaa"
        );
        assert_eq!(command_line_key(r#""C:\Program Files\X\x.exe"  /S"#), r#""c:\program files\x\x.exe" /s"#);
        assert_eq!(command_line_key(" \t "), "");
        assert_eq!(command_line_key("Copy  C:\\ÜBER\\Ä.TXT  D:\\"), "copy c:\\über\\ä.txt d:\\");
    }

    #[test]
    fn domain_keys_fall_back_to_the_name_and_skip_single_labels() {
        assert_eq!(domain_key("WWW.Example.COM.").as_deref(), Some("example.com"));
        assert_eq!(domain_key("dc01.corp.local").as_deref(), Some("dc01.corp.local"));
        assert_eq!(domain_key("wpad"), None);
        assert_eq!(domain_key(""), None);
        assert_eq!(domain_key("10.1.2.3"), None);
    }

    #[test]
    fn answer_domains_agree_with_dns_name() {
        for name in [
            "youtube-ui.l.google.com",
            "github.map.fastly.net",
            "a.b.amazon.co.jp",
            "dc01.corp.local",
            "wpad",
            "com",
            "co.jp",
            "xn--wgv71a119e.jp",
            "www.xn--wgv71a119e.jp",
            "x.blogspot.com",
            "WWW.Example.COM",
            "trailing.example.org.",
            "日本語.jp",
            "10.1.2.3",
        ] {
            assert_eq!(answer_domain(name).map(Cow::into_owned), domain_key(name), "{name}");
        }
    }

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(address_key("::ffff:172.217.24.142"), Some("172.217.24.142".parse().unwrap()));
        assert_eq!(address_key(" fe80::1%12 "), Some("fe80::1".parse().unwrap()));
        assert_eq!(address_key("not an address"), None);
        assert_eq!(canonical_ip("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4".parse::<IpAddr>().unwrap());
    }
}

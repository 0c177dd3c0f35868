//! Sysmon `ProcessGuid`s, normalised so EID 1, 3, 5 and 22 join.
//!
//! Sysmon prints `{22052e76-2b25-5d12-0000-001064a64200}`; some pipelines drop the braces or
//! upper-case the hex (`{905CC552-2045-5CC5-0000-00105B2A0100}`). Parsing into a `u128` makes the
//! join key canonical, compact and cheap to hash.

use std::fmt;

use serde::{Serialize, Serializer};

/// A parsed GUID. Displays as Sysmon does, lower case with braces.
// Aligned to 8 bytes, not a `u128`'s 16: every event holds one or two, and an alignment of 16
// would pad each event (and each `Option<Guid>` to 32 bytes instead of 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C, packed(8))]
pub struct Guid(pub u128);

impl Guid {
    /// The all-zero GUID Sysmon writes for processes it could not identify.
    pub fn is_nil(self) -> bool {
        let value = self.0;
        value == 0
    }

    /// Accepts `{8-4-4-4-12}` or `8-4-4-4-12` or 32 bare hex digits, any case.
    pub fn parse(text: &str) -> Option<Guid> {
        let t = text.trim();
        let t = t.strip_prefix('{').map_or(t, |s| s.strip_suffix('}').unwrap_or(s));
        let b = t.as_bytes();
        let dashed = b.len() == 36;
        if !(dashed || b.len() == 32) {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if dashed && matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let nibble = (c as char).to_digit(16)?;
            v = (v << 4) | nibble as u128;
        }
        Some(Guid(v))
    }
}

impl Guid {
    /// The text form, lower case with braces (`{22052e76-6f9d-5d13-0000-0010d31f0c00}`),
    /// written into `buf`: [`Display`](fmt::Display) without the formatting machinery.
    pub fn text(self, buf: &mut [u8; 38]) -> &str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Where each of the 16 bytes' two digits go: braces at 0 and 37, dashes at 9, 14, 19, 24.
        const AT: [usize; 16] = [1, 3, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 29, 31, 33, 35];
        *buf = *b"{00000000-0000-0000-0000-000000000000}";
        let value = self.0;
        for (i, byte) in value.to_be_bytes().into_iter().enumerate() {
            buf[AT[i]] = HEX[usize::from(byte >> 4)];
            buf[AT[i] + 1] = HEX[usize::from(byte & 0xf)];
        }
        std::str::from_utf8(buf).expect("hex digits, dashes and braces are ASCII")
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text(&mut [0; 38]))
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text(&mut [0; 38]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_and_case_do_not_matter() {
        let a = Guid::parse("{22052e76-2b25-5d12-0000-001064a64200}").unwrap();
        let b = Guid::parse("22052E76-2B25-5D12-0000-001064A64200").unwrap();
        let c = Guid::parse("22052e762b255d120000001064a64200").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), "{22052e76-2b25-5d12-0000-001064a64200}");
    }

    #[test]
    fn an_optional_guid_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<Option<Guid>>(), 24);
        assert_eq!(std::mem::align_of::<Guid>(), 8);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "-",
            "{22052e76-2b25-5d12-0000-001064a6420}",
            "{22052e76+2b25-5d12-0000-001064a64200}",
            "zz052e76-2b25-5d12-0000-001064a64200",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad}");
        }
    }
}

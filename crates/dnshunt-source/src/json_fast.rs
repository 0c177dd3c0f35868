//! A serde deserializer for one JSON document already known to be UTF-8, that does the least
//! work for [`crate::json_visit`]'s visitor.
//!
//! Most of a Winlogbeat or ECS document is fields dnshunt never reads (agent, host.os, event
//! times, related, winlog.user ...). `serde_json` checks every string it skips and every key it
//! hands out for UTF-8 and control characters, one short string at a time; here the whole line is
//! checked once up front (UTF-8 by the caller's `&str`, control characters by one pass over the
//! bytes), strings end at the next `"` or `\`, found eight bytes at a time, and skipped values
//! are walked by their grammar without being decoded.
//!
//! It is exact by construction: it reads only the common tokens itself (strings without escapes
//! or with the simple ones such as `\\` and `\n`, non-negative integers, `true`/`false`/`null`,
//! objects and arrays) and hands every other token (strings with `\u` escapes, negative,
//! fractional or huge numbers) to `serde_json` on that token's own bytes, so the visitor is
//! called exactly as `serde_json` would call it. It is never more lenient than `serde_json`:
//! anything it finds odd is an error, and the caller then reads the document again with
//! `serde_json`, which decides (and words the error). Keys are always decoded, even when the
//! visitor ignores them, as `serde_json` decodes them (a lone surrogate in a key is an error
//! there); only the strings inside skipped values are checked as `serde_json` skips them.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

type Error = serde_json::Error;

/// How deep objects and arrays may nest here (`serde_json` allows 127; deeper input is left to it).
const MAX_DEPTH: u32 = 120;

/// Reads one JSON document with `seed`: the whole text must be one value and whitespace.
pub(crate) fn parse<'de, S: DeserializeSeed<'de>>(text: &'de str, seed: S) -> Result<S::Value, Error> {
    let bytes = text.as_bytes();
    let mut de = Fast {
        text,
        pos: 0,
        depth: 0,
        // Raw control characters are legal only as whitespace between tokens; when the document
        // has any, every string is checked for them (`serde_json` rejects them inside strings).
        controls: bytes.iter().fold(false, |any, &b| any | (b < 0x20)),
    };
    let value = seed.deserialize(&mut de)?;
    de.whitespace();
    if de.pos != bytes.len() {
        return Err(odd("trailing characters"));
    }
    Ok(value)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The index of the first `"` or `\\` in `bytes[from..]` (only `\\` when `quotes` is false),
/// eight bytes at a time: most strings here are short keys, for which a vector search's set-up
/// costs more than the search.
#[inline(always)]
fn find_special(bytes: &[u8], from: usize, quotes: bool) -> Option<usize> {
    // A byte is zero in `x ^ (ONES * b)` where the word holds `b`; the lowest flagged byte of
    // such a mask is exact (borrows only flag bytes above a true match).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let mut found = zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if quotes {
            found |= zero_bytes(word ^ (ONES * u64::from(b'"')));
        }
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\\' || (quotes && b == b'"')).map(|at| i + at)
}

/// Decodes the escapes of a string's text (already checked by `string_end`) into `out`; false
/// for a `\u` escape, which is left to `serde_json`.
fn unescape(text: &str, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    let mut run = 0;
    while let Some(i) = find_special(bytes, run, false) {
        // Runs between escapes end at ASCII bytes, so they are whole characters.
        out.push_str(&text[run..i]);
        out.push(match bytes[i + 1] {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return false,
        });
        run = i + 2;
    }
    out.push_str(&text[run..]);
    true
}

#[cold]
fn not_a_string() -> Error {
    odd("not a string serde_json would take")
}

#[cold]
fn odd(what: &str) -> Error {
    de::Error::custom(what)
}

struct Fast<'de> {
    text: &'de str,
    pos: usize,
    depth: u32,
    controls: bool,
}

impl<'de> Fast<'de> {
    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// The end (the closing quote's index) of the string whose opening quote is at `self.pos`,
    /// and whether it holds escapes; `None` when it is not a string `serde_json` would take
    /// (unterminated, a bad escape, a raw control character). Escapes are checked as
    /// `serde_json` checks the strings inside values it skips (keys are decoded, see
    /// [`Key`]).
    #[inline(always)]
    fn string_end(&self) -> Option<(usize, bool)> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = find_special(self.bytes(), i, true)?;
            if self.bytes()[i] == b'"' {
                break;
            }
            escaped = true;
            match self.bytes().get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' if self.bytes().get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                _ => return None,
            }
        }
        if self.controls && self.bytes()[start..i].iter().any(|&b| b < 0x20) {
            return None;
        }
        Some((i, escaped))
    }

    #[inline(always)]
    fn string_end_or_err(&self) -> Result<(usize, bool), Error> {
        self.string_end().ok_or_else(not_a_string)
    }

    /// The end of the number starting at `self.pos`, checked against JSON's grammar.
    fn number_end(&self) -> Result<usize, Error> {
        let b = self.bytes();
        // The end of a run of digits from `i`, which must not be empty.
        let digits = |i: usize| {
            let end = i + b[i.min(b.len())..].iter().take_while(|d| d.is_ascii_digit()).count();
            if end == i {
                Err(odd("bad number"))
            } else {
                Ok(end)
            }
        };
        let mut i = self.pos + usize::from(b.get(self.pos) == Some(&b'-'));
        i = match b.get(i) {
            Some(b'0') => i + 1,
            _ => digits(i)?,
        };
        if b.get(i) == Some(&b'.') {
            i = digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            i = digits(i)?;
        }
        Ok(i)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.bytes()[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(odd("bad literal"))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(odd("nested too deep"));
        }
        self.pos += 1;
        Ok(())
    }

    fn close(&mut self, end: u8) -> Result<(), Error> {
        self.whitespace();
        if self.peek() != Some(end) {
            return Err(odd("unclosed object or array"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    /// `serde_json` reads the token `[start, end)` and calls the visitor.
    fn by_serde_json<V: Visitor<'de>>(&mut self, end: usize, visitor: V) -> Result<V::Value, Error> {
        let mut de = serde_json::Deserializer::from_str(&self.text[self.pos..end]);
        let value = de.deserialize_any(visitor)?;
        de.end()?;
        self.pos = end;
        Ok(value)
    }

    /// Steps over one value, checking its grammar and nothing more.
    fn skip(&mut self) -> Result<(), Error> {
        self.whitespace();
        match self.peek() {
            Some(b'"') => {
                self.pos = self.string_end_or_err()?.0 + 1;
            }
            Some(open @ (b'{' | b'[')) => {
                let (end, keyed) = if open == b'{' { (b'}', true) } else { (b']', false) };
                self.enter()?;
                let mut entries = Entries { de: &mut *self, first: true };
                while entries.more(end)? {
                    if keyed {
                        if entries.de.peek() != Some(b'"') {
                            return Err(odd("expected a key"));
                        }
                        entries.de.pos = entries.de.string_end_or_err()?.0 + 1;
                        entries.de.colon()?;
                    }
                    entries.de.skip()?;
                }
                self.close(end)?;
            }
            Some(b't') => self.literal(b"true")?,
            Some(b'f') => self.literal(b"false")?,
            Some(b'n') => self.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => self.pos = self.number_end()?,
            _ => return Err(odd("expected a value")),
        }
        Ok(())
    }

    fn colon(&mut self) -> Result<(), Error> {
        self.whitespace();
        if self.peek() != Some(b':') {
            return Err(odd("expected ':'"));
        }
        self.pos += 1;
        Ok(())
    }
}

impl<'de> Deserializer<'de> for &mut Fast<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.whitespace();
        match self.peek() {
            Some(b'"') => {
                let (end, escaped) = self.string_end_or_err()?;
                let text = &self.text[self.pos + 1..end];
                if !escaped {
                    self.pos = end + 1;
                    return visitor.visit_borrowed_str(text);
                }
                // `\u` escapes (surrogate pairs, lone surrogates) are `serde_json`'s to judge.
                let mut decoded = String::with_capacity(text.len());
                if !unescape(text, &mut decoded) {
                    return self.by_serde_json(end + 1, visitor);
                }
                self.pos = end + 1;
                // `serde_json` hands decoded text over as `visit_str`; `visit_string` means the
                // same to every visitor here (its default is `visit_str`), and the ones that keep
                // field values (`ValueSeed`) take the `String` itself instead of copying it.
                visitor.visit_string(decoded)
            }
            Some(b'{') => {
                self.enter()?;
                let value = visitor.visit_map(Entries { de: &mut *self, first: true })?;
                self.close(b'}')?;
                Ok(value)
            }
            Some(b'[') => {
                self.enter()?;
                let value = visitor.visit_seq(Entries { de: &mut *self, first: true })?;
                self.close(b']')?;
                Ok(value)
            }
            Some(b't') => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            Some(b'-' | b'0'..=b'9') => {
                let end = self.number_end()?;
                // A plain integer that fits is read here; `serde_json` reads the rest.
                let digits = &self.bytes()[self.pos..end];
                let plain = digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit);
                if !plain {
                    return self.by_serde_json(end, visitor);
                }
                let n = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
                self.pos = end;
                visitor.visit_u64(n)
            }
            _ => Err(odd("expected a value")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }

    // No visitor here asks for an option. One that did would get `null` as `visit_unit` (serde's
    // option visitor takes it as `None`) but any other value without `visit_some`, which it
    // refuses: the document would then be read by `serde_json`, slower but the same.
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// A key: decoded whatever the visitor asks for, ignored keys included, as `serde_json`'s key
/// deserializer does (so `{"\ud800": 1}` is an error even where the key is not read).
struct Key<'a, 'de>(&'a mut Fast<'de>);

impl<'de> Deserializer<'de> for Key<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_any(visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The entries of an object or the elements of an array.
struct Entries<'a, 'de> {
    de: &'a mut Fast<'de>,
    first: bool,
}

impl Entries<'_, '_> {
    /// True when another entry follows (its separator consumed), false at the closing `end`.
    fn more(&mut self, end: u8) -> Result<bool, Error> {
        self.de.whitespace();
        match self.de.peek() {
            Some(b) if b == end => return Ok(false),
            Some(b',') if !self.first => {
                self.de.pos += 1;
                self.de.whitespace();
                if self.de.peek() == Some(end) {
                    return Err(odd("trailing comma"));
                }
            }
            _ if self.first => {}
            _ => return Err(odd("expected ',' or the end")),
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if !self.more(b'}')? {
            return Ok(None);
        }
        if self.de.peek() != Some(b'"') {
            return Err(odd("expected a key"));
        }
        seed.deserialize(Key(&mut *self.de)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.de.colon()?;
        seed.deserialize(&mut *self.de)
    }
}

impl<'de> SeqAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if !self.more(b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use crate::json_visit::{assert_both_paths_agree, parse_document_slow, DocSeed};

    /// The fast reading of `text`: `None` when it leaves the text to `serde_json`.
    fn fast(text: &str) -> Option<Vec<dnshunt_core::RawRecord<'_>>> {
        let mut out = Vec::new();
        super::parse(text, DocSeed { out: &mut out }).ok().map(|()| out)
    }

    /// Whatever the fast path takes, it reads exactly as `serde_json` does; and
    /// `parse_document` always answers as `serde_json` does. Whether the fast path took it.
    fn agrees(text: &str) -> bool {
        let taken = fast(text);
        if let Some(records) = &taken {
            let mut slow = Vec::new();
            assert!(parse_document_slow(text.as_bytes(), &mut slow).is_ok(), "fast took what serde_json refuses: {text}");
            assert_eq!(records, &slow, "{text}");
        }
        assert_both_paths_agree(text.as_bytes(), text);
        taken.is_some()
    }

    #[test]
    fn common_documents_are_read_fast_and_exactly() {
        let lines = [
            r#"{"winlog":{"event_id":22,"channel":"Microsoft-Windows-Sysmon/Operational","computer_name":"WS1","event_data":{"QueryName":"a.example.com","ProcessId":"42","Image":"C:\\Windows\\System32\\svchost.exe","QueryResults":"type:  5 x.net;::ffff:1.2.3.4;"}},"@timestamp":"2024-01-01T00:00:00.000Z","host":{"name":"ws1","ip":["10.0.0.1"],"os":{"build":"19045"}},"message":"Dns query:\nRuleName: -\r\n\tProcessId: 42","n":1.5,"m":-3,"z":0,"big":18446744073709551615,"t":true,"f":false,"x":null,"arr":[[],{}]}"#,
            r##"{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":""},"#text":3},"Computer":"h","Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}}},"EventData":{"DestinationIp":"10.0.0.2","DestinationPort":443,"Initiated":true}}}"##,
            r#"{"hits":{"total":{"value":2},"hits":[{"_index":"i","_id":"1","_source":{"event_id":22,"event_data":{"QueryName":"b.example"}}},{"_index":"i","_id":"2","_source":{"event_id":1}}]}}"#,
            r#"[{"EventID":22,"QueryName":"c.example"},{"EventID":3}]"#,
            r#"{"EventID": 22 , "dns.question.name" : "d.example" , "host.name": "h2" }"#,
            r#"{"EventID":22,"EventData":"{\"QueryName\":\"sentinel.example\",\"ProcessId\":7}"}"#,
            r#"{"EventID":22,"QueryName":"\/slash\b\f\"q\"","Image":"é ü 漢字 🦀"}"#,
        ];
        for line in lines {
            assert!(agrees(line), "left to serde_json: {line}");
        }
    }

    #[test]
    fn odd_and_broken_documents_answer_as_serde_json_does() {
        let lines = [
            // Escapes the fast path leaves to serde_json.
            r#"{"EventID":22,"QueryName":"\u0041\u00e9"}"#,
            r#"{"EventID":22,"QueryName":"\ud83e\udd80 crab"}"#,
            r#"{"EventID":22,"QueryName":"\ud800 lone"}"#,
            r#"{"EventID":22,"QueryName":"\udc00 lone"}"#,
            r#"{"EventID":22,"QueryName":"\x"}"#,
            r#"{"EventID":22,"QueryName":"\u12"}"#,
            r#"{"EventID":22,"\u0051ueryName":"escaped key"}"#,
            // Keys are decoded even where the visitor ignores them, as serde_json decodes them.
            r#"{"EventID":22,"Image":{"\ud800":1}}"#,
            r#"{"EventID":22,"Image":{"a\udc00":1}}"#,
            r#"{"EventID":22,"Image":{"\ud800\u0041":1}}"#,
            r#"{"hits":{"hits":{"\ud800":1}}}"#,
            r#"{"EventID":22,"Image":{"\u0041":1}}"#,
            // Numbers.
            r#"{"EventID":-0,"ProcessId":-1}"#,
            r#"{"EventID":22,"ProcessId":1e3,"DestinationPort":1.0}"#,
            r#"{"EventID":22,"ProcessId":18446744073709551616}"#,
            r#"{"EventID":22,"ProcessId":99999999999999999999999}"#,
            r#"{"EventID":01}"#,
            r#"{"EventID":1.}"#,
            r#"{"EventID":.5}"#,
            r#"{"EventID":1e}"#,
            r#"{"EventID":+1}"#,
            r#"{"EventID":-}"#,
            // Structure.
            r#"{"EventID":22,}"#,
            r#"{,"EventID":22}"#,
            r#"{"EventID":22 "QueryName":"a"}"#,
            r#"{"EventID" 22}"#,
            r#"{"EventID":22}}"#,
            r#"{"EventID":22} x"#,
            r#"{"EventID":22"#,
            r#"{"EventID":[1,2,]}"#,
            r#"{"EventID":[,1]}"#,
            r#"{"a":{"b":[1 2]},"EventID":1}"#,
            r#"{"a":tru,"EventID":1}"#,
            r#"{"a":nul,"EventID":1}"#,
            r#"{"a":"unterminated}"#,
            r#"{"EventID":22,"QueryName":"tab	inside"}"#,
            "{\"EventID\":22,\t\"QueryName\":\"tab between\"\r}",
            "{\"EventID\":22,\"x\":\"raw\u{1}control in a skipped string\"}",
            r#"{"EventID":22,"QueryName":"a","QueryName":"duplicate"}"#,
            "",
            "   ",
            "22",
            r#""just a string""#,
            "null",
            "[]",
            "{}",
        ];
        for line in lines {
            agrees(line);
        }
        // Nesting: shallow enough for both, and deeper than serde_json allows.
        for depth in [10, 119, 120, 121, 127, 128, 129, 200] {
            let line = format!("{{\"EventID\":1,\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            agrees(&line);
        }
    }
}

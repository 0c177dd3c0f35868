//! RDAP (RFC 9083) domain answers: the registration date in a response body, and the lookup
//! URL. The binary does the HTTP request (opt-in, budgeted, cached in the state store); this
//! module only reads what came back.

use dnshunt_core::Timestamp;
use serde::Deserialize;

/// The default server: rdap.org redirects to the registry's own RDAP service (from IANA's
/// bootstrap registry).
pub const DEFAULT_URL_TEMPLATE: &str = "https://rdap.org/domain/{domain}";

/// The lookup URL for `domain`: `{domain}` in the template is replaced, or the domain is
/// appended when the template has no placeholder.
pub fn lookup_url(template: &str, domain: &str) -> String {
    if template.contains("{domain}") {
        template.replace("{domain}", domain)
    } else {
        format!("{}/{domain}", template.trim_end_matches('/'))
    }
}

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdapError {
    /// Not JSON, or not a domain object.
    #[error("not an RDAP domain response: {0}")]
    NotRdap(#[from] serde_json::Error),
    /// The `registration` event's date does not parse.
    #[error("registration date {0:?} is not an RFC 3339 time")]
    BadDate(String),
}

#[derive(Deserialize)]
struct DomainObject {
    #[serde(rename = "objectClassName")]
    object_class_name: Option<String>,
    #[serde(default)]
    events: Vec<RdapEvent>,
}

#[derive(Deserialize)]
struct RdapEvent {
    #[serde(rename = "eventAction")]
    event_action: Option<String>,
    #[serde(rename = "eventDate")]
    event_date: Option<String>,
}

/// The registration date of an RDAP domain response (`events[] {eventAction: "registration",
/// eventDate}`); `Ok(None)` when the response has no registration event (some registries omit
/// it).
pub fn registration_date(body: &[u8]) -> Result<Option<Timestamp>, RdapError> {
    let object: DomainObject = serde_json::from_slice(body)?;
    if object.object_class_name.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("domain")) && object.events.is_empty() {
        return Ok(None);
    }
    let Some(date) = object
        .events
        .iter()
        .find(|e| e.event_action.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("registration")))
        .and_then(|e| e.event_date.as_deref())
    else {
        return Ok(None);
    };
    Timestamp::parse(date).map(Some).ok_or_else(|| RdapError::BadDate(date.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_event_of_real_response_shapes() {
        // Verisign (.com) shape, trimmed.
        let com = br#"{"objectClassName":"domain","handle":"2336799_DOMAIN_COM-VRSN","ldhName":"EXAMPLE.COM",
            "status":["client delete prohibited"],
            "events":[{"eventAction":"registration","eventDate":"1995-08-14T04:00:00Z"},
                      {"eventAction":"expiration","eventDate":"2025-08-13T04:00:00Z"},
                      {"eventAction":"last update of RDAP database","eventDate":"2024-03-11T10:22:33Z"}],
            "rdapConformance":["rdap_level_0"]}"#;
        assert_eq!(registration_date(com).unwrap(), Timestamp::parse("1995-08-14T04:00:00Z"));
        // Fractions and offsets, as some registries write them.
        let frac = br#"{"objectClassName":"domain","events":[{"eventAction":"registration","eventDate":"2024-03-10T23:30:00.123+01:00"}]}"#;
        assert_eq!(registration_date(frac).unwrap(), Timestamp::parse("2024-03-10T22:30:00.123Z"));
        let none = br#"{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"2025-01-01T00:00:00Z"}]}"#;
        assert_eq!(registration_date(none).unwrap(), None);
        assert!(matches!(registration_date(b"<html>rate limited</html>"), Err(RdapError::NotRdap(_))));
        let bad = br#"{"events":[{"eventAction":"registration","eventDate":"yesterday"}]}"#;
        assert!(matches!(registration_date(bad), Err(RdapError::BadDate(_))));
    }

    #[test]
    fn url_template() {
        assert_eq!(lookup_url(DEFAULT_URL_TEMPLATE, "example.com"), "https://rdap.org/domain/example.com");
        assert_eq!(lookup_url("http://127.0.0.1:8080/rdap/", "a.example"), "http://127.0.0.1:8080/rdap/a.example");
    }
}

//! `QueryStatus`: a Win32 error code (the DnsQuery API's return value), not a DNS rcode.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// The status of a lookup. Unknown codes are kept as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct QueryStatus(pub u32);

impl QueryStatus {
    pub const SUCCESS: QueryStatus = QueryStatus(0);
    pub const NAME_ERROR: QueryStatus = QueryStatus(9003);
    pub const NO_RECORDS: QueryStatus = QueryStatus(9501);

    /// The symbolic name from winerror.h / windns.h, when the code is known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "SUCCESS",
            8 => "ERROR_NOT_ENOUGH_MEMORY",
            13 => "ERROR_INVALID_DATA",
            87 => "ERROR_INVALID_PARAMETER",
            123 => "ERROR_INVALID_NAME",
            1214 => "ERROR_INVALID_NETNAME",
            1222 => "ERROR_NO_NETWORK",
            1223 => "ERROR_CANCELLED",
            1460 => "ERROR_TIMEOUT",
            9001 => "DNS_ERROR_RCODE_FORMAT_ERROR",
            9002 => "DNS_ERROR_RCODE_SERVER_FAILURE",
            9003 => "DNS_ERROR_RCODE_NAME_ERROR",
            9004 => "DNS_ERROR_RCODE_NOT_IMPLEMENTED",
            9005 => "DNS_ERROR_RCODE_REFUSED",
            9006 => "DNS_ERROR_RCODE_YXDOMAIN",
            9007 => "DNS_ERROR_RCODE_YXRRSET",
            9008 => "DNS_ERROR_RCODE_NXRRSET",
            9009 => "DNS_ERROR_RCODE_NOTAUTH",
            9010 => "DNS_ERROR_RCODE_NOTZONE",
            9016 => "DNS_ERROR_RCODE_BADSIG",
            9017 => "DNS_ERROR_RCODE_BADKEY",
            9018 => "DNS_ERROR_RCODE_BADTIME",
            9101 => "DNS_ERROR_KEYMASTER_REQUIRED",
            9102 => "DNS_ERROR_NOT_ALLOWED_ON_SIGNED_ZONE",
            9103 => "DNS_ERROR_NSEC3_INCOMPATIBLE_WITH_RSA_SHA1",
            9104 => "DNS_ERROR_NOT_ENOUGH_SIGNING_KEY_DESCRIPTORS",
            9105 => "DNS_ERROR_UNSUPPORTED_ALGORITHM",
            9106 => "DNS_ERROR_INVALID_KEY_SIZE",
            9107 => "DNS_ERROR_SIGNING_KEY_NOT_ACCESSIBLE",
            9108 => "DNS_ERROR_KSP_DOES_NOT_SUPPORT_PROTECTION",
            9109 => "DNS_ERROR_UNEXPECTED_DATA_PROTECTION_ERROR",
            9110 => "DNS_ERROR_UNEXPECTED_CNG_ERROR",
            9111 => "DNS_ERROR_UNKNOWN_SIGNING_PARAMETER_VERSION",
            9112 => "DNS_ERROR_KSP_NOT_ACCESSIBLE",
            9113 => "DNS_ERROR_TOO_MANY_SKDS",
            9114 => "DNS_ERROR_INVALID_ROLLOVER_PERIOD",
            9115 => "DNS_ERROR_INVALID_INITIAL_ROLLOVER_OFFSET",
            9116 => "DNS_ERROR_ROLLOVER_IN_PROGRESS",
            9117 => "DNS_ERROR_STANDBY_KEY_NOT_PRESENT",
            9118 => "DNS_ERROR_NOT_ALLOWED_ON_ZSK",
            9119 => "DNS_ERROR_NOT_ALLOWED_ON_ACTIVE_SKD",
            9120 => "DNS_ERROR_ROLLOVER_ALREADY_QUEUED",
            9121 => "DNS_ERROR_NOT_ALLOWED_ON_UNSIGNED_ZONE",
            9122 => "DNS_ERROR_BAD_KEYMASTER",
            9123 => "DNS_ERROR_INVALID_SIGNATURE_VALIDITY_PERIOD",
            9124 => "DNS_ERROR_INVALID_NSEC3_ITERATION_COUNT",
            9125 => "DNS_ERROR_DNSSEC_IS_DISABLED",
            9126 => "DNS_ERROR_INVALID_XML",
            9127 => "DNS_ERROR_NO_VALID_TRUST_ANCHORS",
            9128 => "DNS_ERROR_ROLLOVER_NOT_POKEABLE",
            9129 => "DNS_ERROR_NSEC3_NAME_COLLISION",
            9130 => "DNS_ERROR_NSEC_INCOMPATIBLE_WITH_NSEC3_RSA_SHA1",
            9501 => "DNS_INFO_NO_RECORDS",
            9502 => "DNS_ERROR_BAD_PACKET",
            9503 => "DNS_ERROR_NO_PACKET",
            9504 => "DNS_ERROR_RCODE",
            9505 => "DNS_ERROR_UNSECURE_PACKET",
            9506 => "DNS_REQUEST_PENDING",
            9551 => "DNS_ERROR_INVALID_TYPE",
            9552 => "DNS_ERROR_INVALID_IP_ADDRESS",
            9553 => "DNS_ERROR_INVALID_PROPERTY",
            9554 => "DNS_ERROR_TRY_AGAIN_LATER",
            9555 => "DNS_ERROR_NOT_UNIQUE",
            9556 => "DNS_ERROR_NON_RFC_NAME",
            9557 => "DNS_STATUS_FQDN",
            9558 => "DNS_STATUS_DOTTED_NAME",
            9559 => "DNS_STATUS_SINGLE_PART_NAME",
            9560 => "DNS_ERROR_INVALID_NAME_CHAR",
            9561 => "DNS_ERROR_NUMERIC_NAME",
            9562 => "DNS_ERROR_NOT_ALLOWED_ON_ROOT_SERVER",
            9563 => "DNS_ERROR_NOT_ALLOWED_UNDER_DELEGATION",
            9564 => "DNS_ERROR_CANNOT_FIND_ROOT_HINTS",
            9565 => "DNS_ERROR_INCONSISTENT_ROOT_HINTS",
            9566 => "DNS_ERROR_DWORD_VALUE_TOO_SMALL",
            9567 => "DNS_ERROR_DWORD_VALUE_TOO_LARGE",
            9568 => "DNS_ERROR_BACKGROUND_LOADING",
            9569 => "DNS_ERROR_NOT_ALLOWED_ON_RODC",
            9570 => "DNS_ERROR_NOT_ALLOWED_UNDER_DNAME",
            9571 => "DNS_ERROR_DELEGATION_REQUIRED",
            9572 => "DNS_ERROR_INVALID_POLICY_TABLE",
            9573 => "DNS_ERROR_ADDRESS_REQUIRED",
            9601 => "DNS_ERROR_ZONE_DOES_NOT_EXIST",
            9602 => "DNS_ERROR_NO_ZONE_INFO",
            9603 => "DNS_ERROR_INVALID_ZONE_OPERATION",
            9604 => "DNS_ERROR_ZONE_CONFIGURATION_ERROR",
            9605 => "DNS_ERROR_ZONE_HAS_NO_SOA_RECORD",
            9606 => "DNS_ERROR_ZONE_HAS_NO_NS_RECORDS",
            9607 => "DNS_ERROR_ZONE_LOCKED",
            9608 => "DNS_ERROR_ZONE_CREATION_FAILED",
            9609 => "DNS_ERROR_ZONE_ALREADY_EXISTS",
            9610 => "DNS_ERROR_AUTOZONE_ALREADY_EXISTS",
            9611 => "DNS_ERROR_INVALID_ZONE_TYPE",
            9612 => "DNS_ERROR_SECONDARY_REQUIRES_MASTER_IP",
            9613 => "DNS_ERROR_ZONE_NOT_SECONDARY",
            9614 => "DNS_ERROR_NEED_SECONDARY_ADDRESSES",
            9615 => "DNS_ERROR_WINS_INIT_FAILED",
            9616 => "DNS_ERROR_NEED_WINS_SERVERS",
            9617 => "DNS_ERROR_NBSTAT_INIT_FAILED",
            9618 => "DNS_ERROR_SOA_DELETE_INVALID",
            9619 => "DNS_ERROR_FORWARDER_ALREADY_EXISTS",
            9620 => "DNS_ERROR_ZONE_REQUIRES_MASTER_IP",
            9621 => "DNS_ERROR_ZONE_IS_SHUTDOWN",
            9622 => "DNS_ERROR_ZONE_LOCKED_FOR_SIGNING",
            9651 => "DNS_ERROR_PRIMARY_REQUIRES_DATAFILE",
            9652 => "DNS_ERROR_INVALID_DATAFILE_NAME",
            9653 => "DNS_ERROR_DATAFILE_OPEN_FAILURE",
            9654 => "DNS_ERROR_FILE_WRITEBACK_FAILED",
            9655 => "DNS_ERROR_DATAFILE_PARSING",
            9701 => "DNS_ERROR_RECORD_DOES_NOT_EXIST",
            9702 => "DNS_ERROR_RECORD_FORMAT",
            9703 => "DNS_ERROR_NODE_CREATION_FAILED",
            9704 => "DNS_ERROR_UNKNOWN_RECORD_TYPE",
            9705 => "DNS_ERROR_RECORD_TIMED_OUT",
            9706 => "DNS_ERROR_NAME_NOT_IN_ZONE",
            9707 => "DNS_ERROR_CNAME_LOOP",
            9708 => "DNS_ERROR_NODE_IS_CNAME",
            9709 => "DNS_ERROR_CNAME_COLLISION",
            9710 => "DNS_ERROR_RECORD_ONLY_AT_ZONE_ROOT",
            9711 => "DNS_ERROR_RECORD_ALREADY_EXISTS",
            9712 => "DNS_ERROR_SECONDARY_DATA",
            9713 => "DNS_ERROR_NO_CREATE_CACHE_DATA",
            9714 => "DNS_ERROR_NAME_DOES_NOT_EXIST",
            9715 => "DNS_WARNING_PTR_CREATE_FAILED",
            9716 => "DNS_WARNING_DOMAIN_UNDELETED",
            9717 => "DNS_ERROR_DS_UNAVAILABLE",
            9718 => "DNS_ERROR_DS_ZONE_ALREADY_EXISTS",
            9719 => "DNS_ERROR_NO_BOOTFILE_IF_DS_ZONE",
            9720 => "DNS_ERROR_NODE_IS_DNAME",
            9721 => "DNS_ERROR_DNAME_COLLISION",
            9722 => "DNS_ERROR_ALIAS_LOOP",
            9751 => "DNS_INFO_AXFR_COMPLETE",
            9752 => "DNS_ERROR_AXFR",
            9753 => "DNS_INFO_ADDED_LOCAL_WINS",
            9801 => "DNS_STATUS_CONTINUE_NEEDED",
            9851 => "DNS_ERROR_NO_TCPIP",
            9852 => "DNS_ERROR_NO_DNS_SERVERS",
            9901 => "DNS_ERROR_DP_DOES_NOT_EXIST",
            9902 => "DNS_ERROR_DP_ALREADY_EXISTS",
            9903 => "DNS_ERROR_DP_NOT_ENLISTED",
            9904 => "DNS_ERROR_DP_ALREADY_ENLISTED",
            9905 => "DNS_ERROR_DP_NOT_AVAILABLE",
            9906 => "DNS_ERROR_DP_FSMO_ERROR",
            _ => return None,
        })
    }

    /// Looks a status up by its symbolic name (`DNS_ERROR_RCODE_NAME_ERROR` → 9003), as
    /// Winlogbeat's Sysmon pipeline writes it in `sysmon.dns.status`; a number is accepted too.
    pub fn from_name(name: &str) -> Option<QueryStatus> {
        use std::collections::HashMap;
        use std::sync::OnceLock;
        static BY_NAME: OnceLock<HashMap<&'static str, u32, foldhash::fast::FixedState>> = OnceLock::new();
        let name = name.trim();
        if let Ok(code) = name.parse::<u32>() {
            return Some(QueryStatus(code));
        }
        let table = BY_NAME.get_or_init(|| (0..=u16::MAX as u32).filter_map(|c| QueryStatus(c).name().map(|n| (n, c))).collect());
        table.get(name).map(|&c| QueryStatus(c))
    }

    /// The lookup succeeded (answers may still be empty).
    pub fn is_success(self) -> bool {
        self.0 == 0
    }

    /// The name does not exist (NXDOMAIN, from the server or the local cache).
    pub fn is_nxdomain(self) -> bool {
        matches!(self.0, 9003 | 9714)
    }

    /// The name exists but has no record of the asked type (NODATA).
    pub fn is_no_data(self) -> bool {
        matches!(self.0, 9501 | 9701)
    }

    /// Any failure other than NODATA: NXDOMAIN, SERVFAIL, refused, timeout, bad packet, ...
    pub fn is_failure(self) -> bool {
        !self.is_success() && !self.is_no_data()
    }
}

impl fmt::Display for QueryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for QueryStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("QueryStatus", 2)?;
        st.serialize_field("code", &self.0)?;
        st.serialize_field("name", &self.name())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_codes_the_seed_and_real_exports_show() {
        assert_eq!(QueryStatus(0).to_string(), "SUCCESS");
        assert_eq!(QueryStatus(9003).to_string(), "DNS_ERROR_RCODE_NAME_ERROR");
        assert_eq!(QueryStatus(9501).to_string(), "DNS_INFO_NO_RECORDS");
        assert_eq!(QueryStatus(9701).to_string(), "DNS_ERROR_RECORD_DOES_NOT_EXIST");
        assert_eq!(QueryStatus(9002).to_string(), "DNS_ERROR_RCODE_SERVER_FAILURE");
        assert_eq!(QueryStatus(1460).to_string(), "ERROR_TIMEOUT");
        assert_eq!(QueryStatus(123).to_string(), "ERROR_INVALID_NAME");
        assert_eq!(QueryStatus(9502).to_string(), "DNS_ERROR_BAD_PACKET");
        assert_eq!(QueryStatus(424242).to_string(), "424242");
        assert_eq!(QueryStatus::from_name("DNS_ERROR_RCODE_NAME_ERROR"), Some(QueryStatus(9003)));
        assert_eq!(QueryStatus::from_name("SUCCESS"), Some(QueryStatus(0)));
        assert_eq!(QueryStatus::from_name("9701"), Some(QueryStatus(9701)));
        assert_eq!(QueryStatus::from_name("NOT_A_STATUS"), None);
    }

    #[test]
    fn categories() {
        assert!(QueryStatus(9003).is_nxdomain() && QueryStatus(9003).is_failure());
        assert!(QueryStatus(9501).is_no_data() && !QueryStatus(9501).is_failure());
        assert!(QueryStatus(0).is_success() && !QueryStatus(0).is_failure());
        assert!(QueryStatus(1460).is_failure() && !QueryStatus(1460).is_nxdomain());
    }
}

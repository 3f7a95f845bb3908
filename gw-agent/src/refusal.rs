//! What a refusal from the OMP means and what the operator can do about
//! it, worded once for every transport (the agent's own engine and the
//! module's built-in client).
//!
//! A GW registration refused with STATUS_PERMISSION_DENIED means the OMP
//! runs in `approved` provisioning mode and has not approved this auth ID:
//! nothing on the gateway can change that, so the message names the
//! command that does, on the OMP's host, ready to paste.

use gmmp_codec::ResultCode;

/// What the gateway registered with: the fields an approval can name.
#[derive(Debug, Clone, Copy)]
pub struct Applicant<'a> {
    /// The auth ID (the module's MAC by default).
    pub auth_id: &'a str,
    /// The domain code.
    pub domain: &'a str,
    /// The GW's manufacture ID.
    pub manufacture_id: &'a str,
}

/// Why the session ends after a GW registration refused with `rc`.
pub fn registration_refused(rc: ResultCode, applicant: Applicant<'_>) -> String {
    if rc == ResultCode::PERMISSION_DENIED {
        format!(
            "GW registration refused: {rc:?}: the OMP has not approved auth ID {}; \
             approve it on the OMP's host with `{}` \
             (add --data-dir if the OMP does not use its default), \
             or start the OMP with `--provisioning open`",
            shell_quote(applicant.auth_id),
            approve_command(applicant),
        )
    } else {
        format!("GW registration refused: {rc:?}")
    }
}

/// The `omp-server` command that approves exactly this applicant.
pub fn approve_command(applicant: Applicant<'_>) -> String {
    format!(
        "omp-server provision add {} --domain {} --manufacture-id {}",
        shell_quote(applicant.auth_id),
        shell_quote(applicant.domain),
        shell_quote(applicant.manufacture_id),
    )
}

/// `s` as one POSIX shell word: plain when it is safe as it is, else in
/// single quotes (an auth ID may hold spaces or quotes).
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applicant(auth_id: &str) -> Applicant<'_> {
        Applicant {
            auth_id,
            domain: "ThingPlug",
            manufacture_id: "WIZnet",
        }
    }

    #[test]
    fn a_permission_refusal_names_the_complete_approval_command() {
        let text = registration_refused(ResultCode::PERMISSION_DENIED, applicant("0008dc1e3222"));
        assert!(
            text.contains(
                "`omp-server provision add 0008dc1e3222 --domain ThingPlug --manufacture-id WIZnet`"
            ),
            "{text}"
        );
        assert!(text.contains("--provisioning open"), "{text}");
    }

    #[test]
    fn an_auth_id_a_shell_would_split_is_quoted() {
        let text = approve_command(applicant("gw 1's"));
        assert!(
            text.starts_with(r"omp-server provision add 'gw 1'\''s' --domain"),
            "{text}"
        );
    }

    #[test]
    fn other_refusals_name_only_the_code() {
        let text = registration_refused(ResultCode::BAD_REQUEST, applicant("0008dc1e3222"));
        assert!(!text.contains("provision add"), "{text}");
    }
}

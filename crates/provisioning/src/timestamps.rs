//! The timestamps IAM writes and reads, as `SystemTime`.

use std::time::SystemTime;

pub fn rfc3339(time: SystemTime) -> String {
    let time = aws_smithy_types::DateTime::from(time);
    time.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| time.secs().to_string())
}

/// Reads the timestamps IAM writes (`2024-11-01T10:00:00Z`, or `+00:00` in the credential report);
/// `N/A`, `no_information` and the like mean "never".
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let normalized = text
        .strip_suffix("+00:00")
        .map(|t| format!("{t}Z"))
        .unwrap_or_else(|| text.to_string());
    let parsed = aws_smithy_types::DateTime::from_str(
        &normalized,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()?;
    SystemTime::try_from(parsed).ok()
}

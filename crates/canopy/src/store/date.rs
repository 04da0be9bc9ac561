//! Dates as Git accepts them in `GIT_AUTHOR_DATE` / `GIT_COMMITTER_DATE` and `--date`.

/// Parses a date into (seconds since the epoch, zone offset in minutes). Accepted forms are the
/// ones Git documents: Git's internal `<unix> <+zone>` (also with a leading `@`), RFC 2822
/// (`Thu, 07 Apr 2005 22:13:13 +0200`) and ISO 8601 (`2005-04-07T22:13:13[+02:00|Z]`, also with a
/// space instead of `T`). A date without a zone is taken as UTC.
pub fn parse_git_date(s: &str) -> Option<(i64, i32)> {
    let s = s.trim();
    let raw = s.strip_prefix('@').unwrap_or(s);
    let mut parts = raw.split_whitespace();
    if let Some(first) = parts.next() {
        if first.bytes().all(|c| c.is_ascii_digit()) && first.len() >= 7 {
            let secs: i64 = first.parse().ok()?;
            let zone = match parts.next() {
                Some(z) => parse_zone(z)?,
                None => 0,
            };
            return parts.next().is_none().then_some((secs, zone));
        }
    }
    parse_rfc2822(s).or_else(|| parse_iso(s))
}

fn parse_zone(z: &str) -> Option<i32> {
    if z == "Z" || z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt") {
        return Some(0);
    }
    let b = z.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|&c| c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hh: i32 = digits[..2].parse().ok()?;
    let mm: i32 = digits[2..].parse().ok()?;
    Some(sign * (hh * 60 + mm))
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn to_epoch(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, zone: i32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(days * 86400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - i64::from(zone) * 60)
}

fn parse_hms(t: &str) -> Option<(u32, u32, u32)> {
    let mut it = t.split(':');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let s = it.next().map_or(Some(0), |s| s.split('.').next()?.parse().ok())?;
    it.next().is_none().then_some((h, m, s))
}

fn parse_rfc2822(s: &str) -> Option<(i64, i32)> {
    let s = match s.split_once(',') {
        Some((_, rest)) => rest,
        None => s,
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 5 {
        return None;
    }
    let d: u32 = parts[0].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mo = MONTHS
        .iter()
        .position(|m| parts[1].to_ascii_lowercase().starts_with(m))? as u32
        + 1;
    let y: i64 = parts[2].parse().ok()?;
    let (h, mi, sec) = parse_hms(parts[3])?;
    let zone = parse_zone(parts[4])?;
    Some((to_epoch(y, mo, d, h, mi, sec, zone)?, zone))
}

fn parse_iso(s: &str) -> Option<(i64, i32)> {
    let (date, rest) = if s.len() >= 10 {
        s.split_at(10)
    } else {
        return None;
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let rest = rest.trim_start_matches(['T', ' ']);
    if rest.is_empty() {
        return Some((to_epoch(y, mo, d, 0, 0, 0, 0)?, 0));
    }
    let zone_at = rest.find(['+', '-', 'Z', ' ']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let (h, mi, sec) = parse_hms(time)?;
    let zone = match zone.trim() {
        "" => 0,
        z => parse_zone(z)?,
    };
    Some((to_epoch(y, mo, d, h, mi, sec, zone)?, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_forms() {
        assert_eq!(parse_git_date("1700000000 +0100"), Some((1700000000, 60)));
        assert_eq!(parse_git_date("@1700000000"), Some((1700000000, 0)));
        assert_eq!(
            parse_git_date("Thu, 07 Apr 2005 22:13:13 +0200"),
            Some((1112904793, 120))
        );
        assert_eq!(
            parse_git_date("2005-04-07T22:13:13+02:00"),
            Some((1112904793, 120))
        );
        assert_eq!(parse_git_date("2005-04-07 20:13:13"), Some((1112904793, 0)));
        assert_eq!(parse_git_date("2005-04-07T20:13:13Z"), Some((1112904793, 0)));
        assert_eq!(parse_git_date("yesterday-ish"), None);
        assert_eq!(parse_git_date("2005-13-07"), None);
    }
}

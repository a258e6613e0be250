//! ADD of an http(s) URL: a blocking download into a scratch directory, verified against
//! `--checksum`, with the file's mtime taken from `Last-Modified`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Download {
    /// Where it was written.
    pub path: PathBuf,
    /// `sha256:<hex>` of its content.
    pub digest: String,
}

/// Whether a source word is an http(s) URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name an URL's content gets: the last path segment.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    after_host
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("index.html")
        .to_string()
}

/// Checks a `--checksum` value's form: `sha256:` and 64 hex digits.
pub fn parse_checksum(s: &str) -> Result<String, String> {
    let hex = s
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("unsupported --checksum {s:?}: only sha256:<hex> is supported"))?;
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("invalid --checksum {s:?}"));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Downloads `url` into `dir/<file name>` (mode 0600, as Docker does).
pub fn download(url: &str, dir: &Path) -> Result<Download, String> {
    let fail = |e: &dyn std::fmt::Display| format!("failed to download {url}: {e}");
    let resp = reqwest::blocking::Client::builder()
        .build()
        .and_then(|c| c.get(url).send())
        .map_err(|e| fail(&e))?;
    if !resp.status().is_success() {
        return Err(fail(&format!("HTTP {}", resp.status())));
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let path = dir.join(file_name(url));
    let mut out = std::fs::File::create(&path).map_err(|e| fail(&e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut resp = resp;
    loop {
        let n = resp.read(&mut buf).map_err(|e| fail(&e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| fail(&e))?;
    }
    drop(out);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(&e))?;
    if let Some(t) = mtime {
        let ts = rustix::fs::Timespec {
            tv_sec: t,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::empty())
            .map_err(|e| fail(&e))?;
    }
    Ok(Download {
        path,
        digest: format!("sha256:{}", hex::encode(h.finalize())),
    })
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = f.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [hh, mm, ss] = hms.as_slice() else {
        return None;
    };
    Some(days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dates_and_checksums() {
        assert_eq!(file_name("https://h/a/b/file.tar.gz?x=1"), "file.tar.gz");
        assert_eq!(file_name("http://h:8080/dir/"), "dir");
        assert_eq!(file_name("http://h"), "index.html");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("yesterday"), None);
        let hex = "ab".repeat(32);
        assert_eq!(
            parse_checksum(&format!("sha256:{hex}")),
            Ok(format!("sha256:{hex}"))
        );
        assert!(parse_checksum("md5:00").is_err());
        assert!(parse_checksum("sha256:zz").is_err());
    }
}

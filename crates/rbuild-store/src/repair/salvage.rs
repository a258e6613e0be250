//! Salvaging the entries of a damaged `index.json`.

use rbuild_oci::Descriptor;
use serde_json::Value;

use crate::tags::REF_NAME;

/// What could be read back from a damaged index.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Salvaged {
    /// Entries that parse as descriptors, in file order.
    pub kept: Vec<Descriptor>,
    /// What was lost, for the report.
    pub lost: String,
}

/// The valid entries of `bytes`: every parsable descriptor of a JSON document, or, when the
/// document itself does not parse (truncated, a byte flipped), the entries before the damage.
pub(crate) fn salvage(bytes: &[u8]) -> Salvaged {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(doc) => from_document(&doc),
        Err(_) => from_prefix(bytes),
    }
}

fn from_document(doc: &Value) -> Salvaged {
    let Some(entries) = doc.get("manifests").and_then(Value::as_array) else {
        return Salvaged {
            kept: Vec::new(),
            lost: "everything: the document has no manifests list".into(),
        };
    };
    let mut out = Salvaged::default();
    let mut lost = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match serde_json::from_value::<Descriptor>(entry.clone()) {
            Ok(d) => out.kept.push(d),
            Err(e) => {
                let name = entry
                    .get("annotations")
                    .and_then(|a| a.get(REF_NAME))
                    .and_then(Value::as_str);
                lost.push(match name {
                    Some(n) => format!("tag {n:?} ({e})"),
                    None => format!("entry {} ({e})", i + 1),
                });
            }
        }
    }
    out.lost = if lost.is_empty() {
        "nothing".into()
    } else {
        lost.join(", ")
    };
    out
}

/// Where the first entry of the `manifests` array starts.
fn manifests_start(bytes: &[u8]) -> Option<usize> {
    let key = b"\"manifests\"";
    let at = bytes.windows(key.len()).position(|w| w == key)? + key.len();
    let open = bytes[at..].iter().position(|&b| b == b'[')?;
    Some(at + open + 1)
}

/// Reads descriptors one by one from the `manifests` array until the first that does not
/// parse.
fn from_prefix(bytes: &[u8]) -> Salvaged {
    let Some(mut pos) = manifests_start(bytes) else {
        return Salvaged {
            kept: Vec::new(),
            lost: "everything: no manifests list could be found".into(),
        };
    };
    let mut kept = Vec::new();
    loop {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b',') {
            pos += 1;
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&bytes[pos..]).into_iter::<Descriptor>();
        match stream.next() {
            Some(Ok(d)) => {
                kept.push(d);
                pos += stream.byte_offset();
            }
            _ => break,
        }
    }
    let lost = if pos >= bytes.len() || bytes[pos] == b']' {
        "nothing readable (the damage is after the last entry)".to_string()
    } else {
        format!(
            "every entry from byte {pos} of {} on (unreadable)",
            bytes.len()
        )
    };
    Salvaged { kept, lost }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"annotations":{"org.opencontainers.image.ref.name":"a:1"}}"#;
    const TWO: &str = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":2}"#;

    #[test]
    fn f10_a_truncated_index_keeps_the_entries_before_the_damage() {
        let full = format!(r#"{{"schemaVersion":2,"manifests":[{ONE}, {TWO}]}}"#);
        let cut = &full.as_bytes()[..full.len() - 40];
        let s = salvage(cut);
        assert_eq!(s.kept.len(), 1);
        assert!(s.lost.contains("from byte"), "{}", s.lost);
        assert_eq!(salvage(full.as_bytes()).kept.len(), 2);
    }

    #[test]
    fn f10_an_index_with_a_bad_entry_keeps_the_others_and_names_the_lost_tag() {
        let bad = ONE.replace("sha256:1111", "sha256:zz11");
        let doc = format!(r#"{{"schemaVersion":2,"manifests":[{bad},{TWO}]}}"#);
        let s = salvage(doc.as_bytes());
        assert_eq!(s.kept.len(), 1);
        assert!(s.lost.contains("\"a:1\""), "{}", s.lost);
    }

    #[test]
    fn f10_garbage_salvages_nothing() {
        let s = salvage(b"{ not json");
        assert!(s.kept.is_empty());
        assert!(s.lost.starts_with("everything"));
    }
}

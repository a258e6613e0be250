use std::collections::BTreeMap;

use rbuild_oci::{Descriptor, Digest};
use rbuild_solver::CacheKey;

use super::*;
use crate::image::{FsState, LayerRef, StepRecord};

fn layer(n: u32) -> LayerRef {
    let d = Digest::of(format!("layer {n}").as_bytes());
    LayerRef {
        descriptor: Descriptor::new("application/vnd.oci.image.layer.v1.tar+gzip", d, n.into()),
        diff_id: Digest::of(format!("diff {n}").as_bytes()),
    }
}

fn key(n: u32) -> CacheKey {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    CacheKey::from_bytes(b)
}

/// A chain: base layers 0 and 1, then `steps` steps, every other one making a layer.
fn chain(steps: u32) -> Vec<FsState> {
    let mut state = FsState {
        layers: vec![layer(0), layer(1)],
        steps: Vec::new(),
    };
    let mut out = Vec::new();
    for i in 0..steps {
        let makes = i % 2 == 0;
        if makes {
            state.layers.push(layer(100 + i));
        }
        state.steps.push(StepRecord {
            layer: makes,
            created: 1_700_000_000 + i64::from(i),
        });
        out.push(state.clone());
    }
    out
}

fn records(states: &[FsState]) -> BTreeMap<CacheKey, FsState> {
    (0u32..)
        .zip(states)
        .map(|(i, s)| (key(i), s.clone()))
        .collect()
}

#[test]
fn every_record_reads_back_as_the_state_it_was_made_from() {
    let mut states = chain(7);
    // A sibling of step 3: same start, another layer on top.
    let mut sibling = states[2].clone();
    sibling.layers.push(layer(999));
    sibling.steps.push(StepRecord {
        layer: true,
        created: 5,
    });
    states.push(sibling);
    let recs = records(&states);
    let doc = CacheDoc::of(&recs);
    let bytes = serde_json::to_vec(&doc).unwrap();
    let back = CacheDoc::parse(&bytes).unwrap();
    let by_key = back.by_key();
    assert_eq!(by_key.len(), recs.len());
    for (k, state) in &recs {
        assert_eq!(&back.state(by_key[k]), state, "{}", k.short());
    }
    // Each blob once; every record after the first extends another.
    assert_eq!(back.layers.len(), 2 + 4 + 1);
    assert_eq!(
        back.records.iter().filter(|r| r.parent.is_none()).count(),
        1
    );
}

#[test]
fn a_long_chain_costs_linear_space() {
    let small = serde_json::to_vec(&CacheDoc::of(&records(&chain(50)))).unwrap();
    let big = serde_json::to_vec(&CacheDoc::of(&records(&chain(500)))).unwrap();
    // Quadratic growth would make this 100x; linear is about 10x.
    assert!(
        big.len() < small.len() * 12,
        "{} vs {}",
        big.len(),
        small.len()
    );
}

#[test]
fn malformed_documents_are_refused() {
    let mut doc = CacheDoc::of(&records(&chain(3)));
    doc.records[0].parent = Some(2);
    let cyclic = serde_json::to_vec(&doc).unwrap();
    assert!(matches!(
        CacheDoc::parse(&cyclic),
        Err(DocError::Record { index: 0, .. })
    ));
    let mut doc = CacheDoc::of(&records(&chain(3)));
    doc.records[1].layers.push(99);
    let out_of_range = serde_json::to_vec(&doc).unwrap();
    assert!(CacheDoc::parse(&out_of_range).is_err());
    let mut doc = CacheDoc::of(&records(&chain(3)));
    doc.records[1].key = "not hex".into();
    assert!(CacheDoc::parse(&serde_json::to_vec(&doc).unwrap()).is_err());
    doc.version = 2;
    assert!(matches!(
        CacheDoc::parse(&serde_json::to_vec(&doc).unwrap()),
        Err(DocError::Version(2))
    ));
    assert!(CacheDoc::parse(b"[]").is_err());
}

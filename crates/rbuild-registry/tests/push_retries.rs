//! The push path has one retry level (issue 13): the upload loop resumes or restarts a blob,
//! and the requests inside it are sent once each instead of being retried again underneath.

mod common;

use common::image::{blobs_of, make_image};
use common::proxy::{Fault, Faults};
use common::reference;
use common::registry::Registry;
use rbuild_registry::{RegistryError, RetryPolicy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upload_is_tried_attempts_times_not_attempts_squared() {
    let reg = Registry::start();
    let faults = Faults {
        every: 1,
        kinds: vec![Fault::Status500],
        only: Some("PUT /v2/"),
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (_cfg, client) = common::anonymous_client();
    let client = client.with_retry_policy(RetryPolicy {
        attempts: 3,
        ..common::quick_retries()
    });
    let (_d, src) = common::store();
    let m = make_image(&src, 9, &[20_000], "amd64");
    let target = reference(format!("{}/nest/app:1", proxy.addr));
    let err = common::push(&client, &src, &m, &target).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 500, .. }),
        "{err:?}"
    );
    let log = proxy.log();
    let puts = |hex: &str| {
        let put = |l: &&String| l.starts_with("PUT ") && l.contains(hex);
        log.iter().filter(put).count()
    };
    let per_blob: Vec<usize> = blobs_of(&src, &m)
        .iter()
        .map(|b| puts(b.digest.hex()))
        .collect();
    // The blob whose failure ended the push went through all 3 attempts, one PUT each
    // (nested retries would have sent 9); the other may have been cut short.
    assert_eq!(per_blob.iter().max(), Some(&3), "{per_blob:?}\n{log:#?}");
    assert!(per_blob.iter().all(|n| *n <= 3), "{per_blob:?}");
}

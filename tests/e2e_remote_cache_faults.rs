//! Issue 15, must-show 5: a registry that answers 500 or 429 to a third of its requests
//! (rbuild-registry's fault-injecting test proxy in front of a real docker-registry) still
//! gets a complete, correct cache, and a fresh runner reads it back through the same faults.

mod common;

/// rbuild-registry's test proxy, compiled here from its own files (a path on an inline
/// module sets the directory its submodules are read from).
#[path = "../crates/rbuild-registry/tests/common"]
#[allow(dead_code)]
mod registry_fixtures {
    pub mod proxy;
}

use common::registry::{build, inspect};
use common::Env;
use registry_fixtures::proxy::{Fault, Faults, Proxy, ProxyOptions};

const DOCKERFILE: &str = "FROM busybox AS builder\n\
    RUN echo $RANDOM > /built && echo builder-only > /other\n\
    FROM busybox\n\
    COPY --from=builder /built /built\n\
    RUN cat /built > /copy && echo $RANDOM > /final\n";

#[test]
fn a_registry_failing_a_third_of_requests_still_gets_a_complete_cache() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let faults = Faults {
        every: 3,
        kinds: vec![Fault::Status500, Fault::TooMany],
        only: None,
    };
    let opts = ProxyOptions {
        faults: Some(faults),
        ..ProxyOptions::default()
    };
    let proxy: Proxy = rt.block_on(Proxy::start(&reg.addr, opts));
    let cache = format!("{}/app:buildcache", proxy.addr);
    let ctx = common::registry::context(DOCKERFILE);

    let first = Env::new();
    let to = format!("type=registry,ref={cache},mode=max");
    let log = build(
        &first.store(),
        &first.docker_config(),
        ctx.path(),
        &["app:1"],
        &["--cache-to", &to],
    );
    assert!(log.contains("exported cache to"), "{log}");
    let after_export = proxy.faults();
    assert!(after_export > 0, "the proxy injected nothing");

    let runner = Env::with_base_of(&first);
    let from = format!("type=registry,ref={cache}");
    let log = build(
        &runner.store(),
        &runner.docker_config(),
        ctx.path(),
        &["app:1"],
        &["--cache-from", &from],
    );
    assert!(log.contains(" steps cached, 0 run)"), "{log}");
    assert!(proxy.faults() > after_export, "no fault while importing");
    assert_eq!(
        inspect(&runner.store(), "app:1").1,
        inspect(&first.store(), "app:1").1
    );
}

use super::*;

fn out(spec: &str) -> Output {
    parse_output(spec).unwrap().output
}

#[test]
fn parses_buildx_spellings() {
    assert_eq!(
        out("type=image"),
        Output::Image {
            names: vec![],
            push: false,
            store: true,
            push_by_digest: false,
            name_canonical: false
        }
    );
    assert_eq!(
        out("type=registry,name=r:1"),
        Output::Image {
            names: vec!["r:1".into()],
            push: true,
            store: false,
            push_by_digest: false,
            name_canonical: false
        }
    );
    assert_eq!(
        out("type=image,name=r:1,push=true"),
        Output::Image {
            names: vec!["r:1".into()],
            push: true,
            store: true,
            push_by_digest: false,
            name_canonical: false
        }
    );
    assert_eq!(
        out("type=image,\"name=a:1,b:2\""),
        Output::Image {
            names: vec!["a:1".into(), "b:2".into()],
            push: false,
            store: true,
            push_by_digest: false,
            name_canonical: false
        }
    );
}

#[test]
fn store_defaults_as_buildkits_workers_do_and_is_refused_where_it_means_nothing() {
    let store = |spec: &str| match out(spec) {
        Output::Image { store, .. } => store,
        other => panic!("{other:?}"),
    };
    assert!(store("type=image,name=r:1,push=true"));
    assert!(!store("type=registry,name=r:1"));
    assert!(store("type=registry,name=r:1,store=true"));
    assert!(!store("type=image,name=r:1,push=true,store=false"));
    let err = parse_fields("type=image,store=false").unwrap_err();
    assert!(err.to_string().contains("exports nothing"), "{err}");
    assert!(parse_output("type=oci,dest=x,store=true").is_err());
    assert!(parse_output("type=image,store=maybe").is_err());
}

#[test]
fn parses_buildx_spellings_of_archives_and_dirs() {
    assert_eq!(
        out("type=oci,dest=/x/y.tar"),
        Output::Oci {
            dest: Dest::File("/x/y.tar".into()),
            tar: true,
            names: vec![]
        }
    );
    assert_eq!(
        out("type=oci,dest=d,tar=false"),
        Output::Oci {
            dest: Dest::File("d".into()),
            tar: false,
            names: vec![]
        }
    );
    assert_eq!(
        out("type=docker,dest=-,name=x:1"),
        Output::Docker {
            dest: Dest::Stdout,
            names: vec!["x:1".into()]
        }
    );
    assert_eq!(
        out("type=local,dest=out"),
        Output::Local { dest: "out".into() }
    );
    assert_eq!(
        out("some/dir"),
        Output::Local {
            dest: "some/dir".into()
        }
    );
}

#[test]
fn parses_compression() {
    let c = |s: &str| parse_output(s).unwrap().compression;
    assert_eq!(c("type=image"), None);
    assert_eq!(
        c("type=image,compression=zstd"),
        Some(Compression::Zstd { level: 3 })
    );
    assert_eq!(
        c("type=oci,dest=f,compression=zstd,compression-level=19"),
        Some(Compression::Zstd { level: 19 })
    );
    assert_eq!(
        c("type=image,compression=gzip"),
        Some(Compression::Gzip { level: 6 })
    );
    assert_eq!(
        c("type=image,compression-level=1"),
        Some(Compression::Gzip { level: 1 })
    );
    assert_eq!(
        c("type=image,compression=uncompressed"),
        Some(Compression::None)
    );
}

#[test]
fn parses_registry_push_options_and_tar() {
    assert_eq!(
        out("type=image,name=r/a,push-by-digest=true,name-canonical=true"),
        Output::Image {
            names: vec!["r/a".into()],
            push: true,
            store: true,
            push_by_digest: true,
            name_canonical: true
        }
    );
    assert_eq!(
        out("type=tar,dest=fs.tar"),
        Output::Tar {
            dest: Dest::File("fs.tar".into())
        }
    );
    assert_eq!(out("-"), Output::Tar { dest: Dest::Stdout });
}

#[test]
fn docker_without_dest_loads_into_the_engine_as_buildx_does() {
    assert_eq!(
        out("type=docker,name=a:1"),
        Output::Load {
            names: vec!["a:1".into()]
        }
    );
    assert_eq!(out("type=docker,dest="), Output::Load { names: vec![] });
}

#[test]
fn rejects_what_it_cannot_do() {
    for bad in [
        "type=oci",
        "type=local",
        "type=tar",
        "type=tar,dest=x,compression=gzip",
        "type=image,push=maybe",
        "type=oci,dest=f,push=true",
        "type=image,compression=lz4",
        "type=image,compression=gzip,compression-level=10",
        "type=image,compression=zstd,compression-level=0",
        "type=image,compression=uncompressed,compression-level=1",
        "type=image,force-compression=true",
        "type=local,dest=x,compression=zstd",
        "type=image,bogus=1",
        "type=image,type=oci",
        "type=oci,dest=-,tar=false",
        "type=docker,dest=x,push-by-digest=true",
    ] {
        assert!(parse_output(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn outputs_must_agree_on_compression() {
    let specs = |v: &[&str]| {
        v.iter()
            .map(|s| parse_output(s).unwrap())
            .collect::<Vec<_>>()
    };
    let agree = specs(&[
        "type=image,compression=zstd",
        "type=oci,dest=f",
        "type=docker,dest=g,compression=zstd",
    ]);
    assert_eq!(
        layer_compression(&agree).unwrap(),
        Compression::Zstd { level: 3 }
    );
    assert_eq!(
        layer_compression(&specs(&["type=local,dest=x"])).unwrap(),
        Compression::default()
    );
    let clash = specs(&[
        "type=image,compression=zstd",
        "type=oci,dest=f,compression=gzip",
    ]);
    assert!(layer_compression(&clash).is_err());
}

//! Concurrent first uses of a cache mount: every user succeeds and they agree on its directory.

use std::path::PathBuf;
use std::sync::Barrier;

use rbuild_store::{Sharing, Store};

const THREADS: usize = 8;
const ROUNDS: usize = 50;

/// `THREADS` threads take the new id `id` at the same moment; returns each one's
/// (directory, created).
fn first_uses(store: &Store, id: &str, sharing: Sharing) -> Vec<(PathBuf, bool)> {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let m = store
                        .cache_mount(id, sharing)
                        .unwrap_or_else(|e| panic!("thread {t}: {e:?}"));
                    assert!(m.data.is_dir(), "{}", m.data.display());
                    // Write into it while the others may hold it too: nobody removes it.
                    std::fs::write(m.data.join(format!("t{t}")), "x").unwrap();
                    // Hold it a little so the users overlap.
                    std::thread::yield_now();
                    (m.data.clone(), m.created)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_first_uses_of_a_shared_id_all_succeed_on_one_directory() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("s")).unwrap();
    for round in 0..ROUNDS {
        let id = format!("fresh-{round}");
        let got = first_uses(&store, &id, Sharing::Shared);
        let dir = &got[0].0;
        assert!(got.iter().all(|(d, _)| d == dir), "{got:?}");
        let created = got.iter().filter(|(_, c)| *c).count();
        assert_eq!(created, 1, "exactly one user creates it: {got:?}");
        for n in 0..THREADS {
            assert!(dir.join(format!("t{n}")).is_file(), "t{n} lost in {dir:?}");
        }
    }
    let list = store.cache_mount_list().unwrap();
    assert_eq!(list.len(), ROUNDS, "{list:?}");
}

#[test]
fn concurrent_first_uses_from_separate_store_handles_all_succeed() {
    // Like separate builds (processes): each thread opens the store itself.
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("s");
    drop(Store::open(&root).unwrap());
    for round in 0..ROUNDS {
        let id = format!("fresh-{round}");
        let barrier = Barrier::new(THREADS);
        let got: Vec<(PathBuf, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (barrier, root, id) = (&barrier, &root, &id);
                    s.spawn(move || {
                        let store = Store::open(root).unwrap();
                        barrier.wait();
                        let m = store.cache_mount(id, Sharing::Shared).unwrap();
                        (m.data.clone(), m.created)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|(d, _)| *d == got[0].0), "{got:?}");
        assert_eq!(got.iter().filter(|(_, c)| *c).count(), 1, "{got:?}");
    }
}

#[test]
fn concurrent_first_uses_of_a_locked_id_take_turns_on_one_directory() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("s")).unwrap();
    for round in 0..ROUNDS {
        let got = first_uses(&store, &format!("locked-{round}"), Sharing::Locked);
        assert!(got.iter().all(|(d, _)| *d == got[0].0), "{got:?}");
        assert_eq!(got.iter().filter(|(_, c)| *c).count(), 1, "{got:?}");
    }
}

#[test]
fn concurrent_first_uses_of_a_private_id_each_get_a_whole_instance() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("s")).unwrap();
    for round in 0..ROUNDS {
        let id = format!("private-{round}");
        let got = first_uses(&store, &id, Sharing::Private);
        // Instances may be reused once a user is done, but each one was made whole, once.
        let mut dirs: Vec<_> = got.iter().map(|(d, _)| d.clone()).collect();
        dirs.sort();
        dirs.dedup();
        let created = got.iter().filter(|(_, c)| *c).count();
        assert_eq!(created, dirs.len(), "each instance created once: {got:?}");
        for d in &dirs {
            assert!(
                d.is_dir() && d.parent().unwrap().join("id").is_file(),
                "{d:?}"
            );
        }
    }
}

#[test]
fn a_use_racing_a_prune_never_loses_its_directory() {
    // A prune removes the mount and its lock file; a user that opened the old lock file
    // must not go on under a lock nobody else sees.
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("s")).unwrap();
    for round in 0..ROUNDS {
        let id = format!("pruned-{round}");
        drop(store.cache_mount(&id, Sharing::Locked).unwrap());
        let barrier = Barrier::new(THREADS + 1);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let (barrier, store, id) = (&barrier, &store, &id);
                s.spawn(move || {
                    barrier.wait();
                    let m = store.cache_mount(id, Sharing::Shared).unwrap();
                    std::thread::yield_now();
                    assert!(m.data.is_dir(), "removed while in use: {:?}", m.data);
                });
            }
            barrier.wait();
            let _ = store.prune_cache_mounts(&|_| false).unwrap();
        });
    }
}

/// A shared mount being seeded is not visible half made: a second user arriving while the
/// first one's `init` still runs sees either nothing (and seeds its own copy) or the whole
/// seed with its mode, never an empty directory with the default mode.
#[test]
fn a_shared_mount_appears_only_seeded_and_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("s")).unwrap();
    let init = |data: &std::path::Path| -> std::io::Result<()> {
        std::fs::write(data.join("seed"), "from the stage")?;
        // Slow, so the other user arrives in the middle of it.
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o741))
    };
    let seen: Vec<(bool, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|i| {
                let (store, init) = (&store, &init);
                s.spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(100 * i));
                    let m = store
                        .cache_mount_init("seeded", Sharing::Shared, init)
                        .unwrap();
                    let mode = std::fs::metadata(&m.data).unwrap().permissions().mode();
                    (m.data.join("seed").is_file(), mode & 0o7777)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(seen, [(true, 0o741), (true, 0o741)]);
}

use super::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\n\
    app:x:1000:1001:App:/home/app:/bin/sh\nnohome:x:1002:1002:::/bin/sh\n";
const GROUP: &str = "root:x:0:root\nwheel:x:10:root,app\napp:x:1001:\n\
    staff:x:50: app , other\nbad:x:notanumber:app\n";

#[test]
fn parses_passwd_and_group() {
    let p = parse_passwd(PASSWD);
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[1],
        PasswdEntry {
            name: "app".into(),
            uid: 1000,
            gid: 1001,
            home: "/home/app".into()
        }
    );
    let g = parse_group(GROUP);
    assert_eq!(g.len(), 4);
    assert_eq!(g[3].members, vec!["app".to_string(), "other".to_string()]);
}

#[test]
fn root_by_default() {
    let u = resolve_user("", PASSWD, GROUP).unwrap();
    assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    assert_eq!(u.groups, vec![0, 10]);
}

#[test]
fn name_gets_primary_and_member_groups() {
    let u = resolve_user("app", PASSWD, GROUP).unwrap();
    assert_eq!((u.uid, u.gid), (1000, 1001));
    assert_eq!(u.groups, vec![1001, 10, 50]);
}

#[test]
fn numeric_uid_known_and_unknown() {
    assert_eq!(resolve_user("1000", PASSWD, GROUP).unwrap().gid, 1001);
    // BuildKit's testUserAdditionalGids (containerd's CVE-2023-25173 fix): the primary
    // group is a supplementary group too, also for a uid /etc/passwd does not know.
    let u = resolve_user("4242", PASSWD, GROUP).unwrap();
    assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
    assert_eq!(u.groups, vec![0]);
    let u = resolve_user("4242:77", "", "").unwrap();
    assert_eq!((u.uid, u.gid, u.groups), (4242, 77, vec![77]));
}

#[test]
fn explicit_group_by_name_or_id() {
    let u = resolve_user("app:wheel", PASSWD, GROUP).unwrap();
    assert_eq!((u.uid, u.gid), (1000, 10));
    assert_eq!(
        u.groups,
        vec![10],
        "an explicit group replaces the member groups"
    );
    assert_eq!(resolve_user("app:5", PASSWD, GROUP).unwrap().gid, 5);
    assert_eq!(resolve_user("app:", PASSWD, GROUP).unwrap().gid, 1001);
}

#[test]
fn unknown_names_are_errors_naming_them() {
    assert_eq!(
        resolve_user("ghost", PASSWD, GROUP),
        Err(UserError::UnknownUser("ghost".into()))
    );
    assert_eq!(
        resolve_user("app:ghosts", PASSWD, GROUP),
        Err(UserError::UnknownGroup("ghosts".into()))
    );
    assert_eq!(
        resolve_user("app", "", ""),
        Err(UserError::UnknownUser("app".into()))
    );
    assert_eq!(
        resolve_user("99999999999", PASSWD, GROUP),
        Err(UserError::Invalid("99999999999".into()))
    );
}

#[test]
fn empty_home_becomes_root_dir() {
    assert_eq!(resolve_user("nohome", PASSWD, GROUP).unwrap().home, "/");
}

#[test]
fn chown_resolves_names_and_ids() {
    assert_eq!(resolve_chown("app", PASSWD, GROUP), Ok((1000, 1000)));
    assert_eq!(resolve_chown("app:staff", PASSWD, GROUP), Ok((1000, 50)));
    assert_eq!(resolve_chown("10:11", "", ""), Ok((10, 11)));
    assert_eq!(resolve_chown("10", "", ""), Ok((10, 10)));
    assert_eq!(
        resolve_chown("nobody", PASSWD, GROUP),
        Err(UserError::UnknownUser("nobody".into()))
    );
    assert_eq!(
        resolve_chown("app:nogroup", PASSWD, GROUP),
        Err(UserError::UnknownGroup("nogroup".into()))
    );
    // Comment lines never name a user.
    assert_eq!(
        resolve_chown("# comment", PASSWD, GROUP),
        Err(UserError::UnknownUser("# comment".into()))
    );
}

#[test]
fn messages_match_docker() {
    assert_eq!(
        UserError::UnknownUser("x".into()).to_string(),
        "unable to find user x: no matching entries in passwd file"
    );
    assert_eq!(
        UserError::UnknownGroup("g".into()).to_string(),
        "unable to find group g: no matching entries in group file"
    );
}

#[test]
fn split_user_and_group() {
    assert_eq!(split_spec("a:b"), ("a", Some("b")));
    assert_eq!(split_spec("a"), ("a", None));
    assert_eq!(split_spec(":b"), ("", Some("b")));
}

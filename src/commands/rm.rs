//! `rbuild rm REF...`.

use std::process::ExitCode;

use rbuild_store::Store;

use super::tag::stored_name;

/// Removes each tag; fails (after trying all) if one does not exist.
pub fn run(store: &Store, references: &[String]) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for reference in references {
        match stored_name(store, reference)? {
            Some((name, _)) if store.remove_tag(&name)? => crate::outln!("Untagged: {name}"),
            _ => {
                eprintln!("ERROR: no such image: {reference}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

//! COPY and ADD.

use super::bflags::{Flags, Kind};
use super::{AddCmd, Command, CopyCmd, Heredoc};
use crate::error::{ErrorKind, InstructionError};
use crate::parser::{heredoc, parse_heredoc_word, Node};

const COPY_FLAGS: &[(&str, Kind)] = &[
    ("from", Kind::Str),
    ("chown", Kind::Str),
    ("chmod", Kind::Str),
    ("link", Kind::Bool),
    ("parents", Kind::Bool),
    ("exclude", Kind::Strs),
];

const ADD_FLAGS: &[(&str, Kind)] = &[
    ("chown", Kind::Str),
    ("chmod", Kind::Str),
    ("link", Kind::Bool),
    ("checksum", Kind::Str),
    ("keep-git-dir", Kind::Bool),
    ("unpack", Kind::Bool),
    ("exclude", Kind::Strs),
];

/// Splits the arguments into sources and destination and collects heredoc bodies.
fn sources_and_dest(
    node: &Node,
    instruction: &'static str,
) -> Result<(Vec<String>, String, Vec<Heredoc>), InstructionError> {
    let Some((dest, sources)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(InstructionError::NoDestination { instruction });
    };
    if parse_heredoc_word(dest).is_some() && !node.json {
        return Err(InstructionError::HeredocDestination { instruction });
    }
    Ok((sources.to_vec(), dest.clone(), heredocs_of(node)))
}

/// The node's heredocs with `<<-` tabs stripped.
pub(crate) fn heredocs_of(node: &Node) -> Vec<Heredoc> {
    node.heredocs
        .iter()
        .map(|h| Heredoc {
            name: h.name.clone(),
            content: if h.chomp {
                heredoc::chomp(&h.content)
            } else {
                h.content.clone()
            },
            expand: h.expand,
        })
        .collect()
}

pub(crate) fn copy(node: &Node) -> Result<Command, ErrorKind> {
    let f = Flags::parse(&node.flags, COPY_FLAGS)?;
    let (sources, dest, heredocs) = sources_and_dest(node, "COPY")?;
    Ok(Command::Copy(CopyCmd {
        sources,
        dest,
        from: f.str("from"),
        chown: f.str("chown"),
        chmod: f.str("chmod"),
        link: f.bool("link").unwrap_or(false),
        parents: f.bool("parents").unwrap_or(false),
        exclude: f.strs("exclude"),
        heredocs,
    }))
}

pub(crate) fn add(node: &Node) -> Result<Command, ErrorKind> {
    let f = Flags::parse(&node.flags, ADD_FLAGS)?;
    let (sources, dest, heredocs) = sources_and_dest(node, "ADD")?;
    Ok(Command::Add(AddCmd {
        sources,
        dest,
        chown: f.str("chown"),
        chmod: f.str("chmod"),
        link: f.bool("link").unwrap_or(false),
        checksum: f.str("checksum"),
        keep_git_dir: f.bool("keep-git-dir").unwrap_or(false),
        unpack: f.bool("unpack"),
        exclude: f.strs("exclude"),
        heredocs,
    }))
}

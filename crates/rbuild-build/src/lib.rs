//! The builder: Dockerfile lowering, ops, build context, exporters

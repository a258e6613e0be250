//! Generic DAG scheduler and cache over an Op trait

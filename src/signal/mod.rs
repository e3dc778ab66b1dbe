//! Readers of what the kernel tells about this machine and about contention on it.
//! Each parser is a pure function over the file's text, tested on recorded files.

pub mod machine;

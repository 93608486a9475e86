//! OCI images (issue 5, in progress): for now, applying layers to a root
//! directory (`flatten`). Pulling and the ext4 build come next.

pub mod ext4;
pub mod flatten;

//! Files and directories that hold secrets or data (the database, generated tokens, a
//! config with a webhook URL): readable by their owner only, whatever the umask.

use std::io::Write;
use std::path::Path;

/// Writes `content` to `path`, created (or truncated) with mode 0600 on Unix and flushed to
/// disk.
pub fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

/// Creates `dir` and its missing parents; those it creates get mode 0700 on Unix.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the empty SQLite database file with mode 0600 (SQLite takes an empty file as a
/// new database, and gives its -wal and -shm files the database file's mode), or takes
/// group and other permissions away from the files an earlier version left readable.
pub(crate) fn prepare_database(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            let file = Path::new(&name);
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & !0o077))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

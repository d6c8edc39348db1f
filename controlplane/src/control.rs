//! The control socket, `<data dir>/control.sock`: the admin router, trusted (no login),
//! served to whoever may open the file. It is bound inside a fresh directory only its owner
//! can enter, made mode 0600, and only then renamed into place: there is no moment at which
//! anyone else could connect.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The socket's path.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Binds the control socket (replacing a stale one).
///
/// # Errors
/// The socket cannot be created.
pub fn bind(data_dir: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    let path = socket_path(data_dir);
    let private = data_dir.join(format!(".control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let bound = (|| {
        let inner = private.join("sock");
        let listener = std::os::unix::net::UnixListener::bind(&inner)?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        // A socket left by a crashed server is stale: nothing can be listening on it now that
        // we hold the database. rename() replaces it atomically.
        std::fs::rename(&inner, &path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    bound
}

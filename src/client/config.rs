//! The saved session: `login` (and `register`) write the node's URL and the
//! token to `<config dir>/mailroom/token.json` (`~/.config/mailroom/` on
//! Linux, honouring `XDG_CONFIG_HOME`), readable by the user only (0600).
use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::api::ClientError;

/// What `token.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The node the token is for (as given to `--url`, without a trailing `/`).
    pub url: String,
    pub email: String,
    pub token: String,
    pub expires_at: String,
}

/// Where the session lives.
pub fn path() -> Result<PathBuf, ClientError> {
    dirs::config_dir()
        .map(|d| d.join("mailroom").join("token.json"))
        .ok_or_else(|| {
            ClientError::Other("no config directory (set HOME or XDG_CONFIG_HOME)".into())
        })
}

/// Writes the session atomically, 0600 (the directory 0700).
pub fn save(s: &Session) -> Result<PathBuf, ClientError> {
    let path = path()?;
    let dir = path.parent().expect("token.json has a parent");
    create_private_dir(dir)?;
    let tmp = dir.join(".token.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = private_file(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(s).expect("a session serializes"))?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The saved session, if any.
pub fn load() -> Result<Option<Session>, ClientError> {
    let path = path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ClientError::Other(format!(
                "{} is not a saved session ({e}); run `mailroom login`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::Other(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

/// Forgets the session; true if there was one.
pub fn remove() -> Result<bool, ClientError> {
    match std::fs::remove_file(path()?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The token to use against `url`: the saved one, if it was saved for `url`.
pub fn token_for(url: &str) -> Result<String, ClientError> {
    match load()? {
        Some(s) if s.url == url => Ok(s.token),
        Some(s) => Err(ClientError::Other(format!(
            "not logged in to {url} (the saved session is for {}); run `mailroom login --url {url} --email E --password P`",
            s.url
        ))),
        None => Err(ClientError::Other(
            "not logged in; run `mailroom login --email E --password P` (or set MAILROOM_TOKEN)"
                .into(),
        )),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

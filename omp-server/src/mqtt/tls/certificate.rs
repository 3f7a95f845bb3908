//! The MQTTS certificate: the configured `mqtts_cert` / `mqtts_key`
//! files, else a self-signed one made at the first start and kept in the
//! data directory (as the HTTP API key is), reused on later starts.
//!
//! The generated key is RSA-2048: the TLS stacks of cellular modems
//! (SIMCom's among them) often offer no ECDSA cipher suite. ring signs
//! with RSA but cannot generate RSA keys, so the `rsa` crate generates
//! the key and rcgen signs the certificate with it.
//!
//! The key file is renamed into place before the certificate file: a
//! certificate file present means a complete pair; a start that finds
//! none makes a new pair, whatever a start cut short left behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// The generated certificate's file in the data directory.
pub const CERT_FILE: &str = "mqtts-cert.pem";
/// The generated private key's file in the data directory (mode 0600).
pub const KEY_FILE: &str = "mqtts-key.pem";
/// Bits of the generated RSA key.
const RSA_BITS: usize = 2048;
/// Names the generated certificate is valid for.
const SUBJECT_ALT_NAMES: [&str; 1] = ["localhost"];

/// Where the certificate in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// The `mqtts_cert` / `mqtts_key` settings.
    Configured,
    /// Read from the data directory, made by an earlier start.
    File(PathBuf),
    /// Made now and written to this file (its key beside it).
    Generated(PathBuf),
}

/// A certificate chain and its private key, ready for rustls.
#[derive(Debug)]
pub struct LoadedCert {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate's file.
    pub cert_path: PathBuf,
    /// The key's file.
    pub key_path: PathBuf,
    /// Its origin.
    pub source: CertSource,
}

impl LoadedCert {
    /// SHA-256 of the leaf certificate (DER), as `AB:CD:…`, the form
    /// `openssl x509 -fingerprint -sha256` prints.
    pub fn fingerprint(&self) -> String {
        self.chain.first().map_or_else(String::new, |leaf| {
            let digest = Sha256::digest(leaf.as_ref());
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
    }
}

/// Why no certificate could be had; names the setting and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{key} {path}: {source}")]
    Io {
        /// The setting the file belongs to (`mqtts_cert`, `mqtts_key`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or private key.
    #[error("{key} {path}: {reason}")]
    Parse {
        /// The setting the file belongs to.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the pair (a key not matching the certificate, an
    /// unsupported key type).
    #[error("mqtts_cert {cert} with mqtts_key {key}: {reason}")]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
    /// Generating the self-signed certificate failed.
    #[error("could not generate the MQTTS certificate: {0}")]
    Generate(String),
}

/// The configured pair when both paths are given, else the pair in the
/// data directory, else a new self-signed pair written there.
pub fn load_or_create(
    data_dir: &Path,
    configured: Option<(&Path, &Path)>,
) -> Result<LoadedCert, TlsError> {
    if let Some((cert, key)) = configured {
        return Ok(LoadedCert {
            chain: read_chain("mqtts_cert", cert)?,
            key: read_key("mqtts_key", key)?,
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            source: CertSource::Configured,
        });
    }
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    if cert_path.exists() {
        return Ok(LoadedCert {
            chain: read_chain("mqtts_cert", &cert_path)?,
            key: read_key("mqtts_key", &key_path)?,
            cert_path: cert_path.clone(),
            key_path,
            source: CertSource::File(cert_path),
        });
    }
    let (cert_pem, key_pem) = generate()?;
    write_private(&key_path, "mqtts_key", key_pem.as_bytes())?;
    write_private(&cert_path, "mqtts_cert", cert_pem.as_bytes())?;
    Ok(LoadedCert {
        chain: parse_chain("mqtts_cert", &cert_path, cert_pem.as_bytes())?,
        key: parse_key("mqtts_key", &key_path, key_pem.as_bytes())?,
        cert_path: cert_path.clone(),
        key_path,
        source: CertSource::Generated(cert_path),
    })
}

/// A new RSA-2048 key and a certificate it signs: (certificate PEM, key
/// PEM).
fn generate() -> Result<(String, String), TlsError> {
    use rsa::pkcs8::EncodePrivateKey;

    let failed = |e: &dyn std::fmt::Display| TlsError::Generate(e.to_string());
    let rsa_key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| failed(&e))?;
    let pkcs8 = rsa_key.to_pkcs8_der().map_err(|e| failed(&e))?;
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.as_bytes()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| failed(&e))?;
    let names: Vec<String> = SUBJECT_ALT_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| failed(&e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "omp-server MQTTS");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key_pair).map_err(|e| failed(&e))?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file
/// renamed into place so that a cut start leaves no half-written file.
fn write_private(path: &Path, key: &'static str, bytes: &[u8]) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        key,
        path: path.to_owned(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    // A leftover of a start cut short is ours to replace.
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    fs::rename(&temporary, path).map_err(io)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        key,
        path: path.to_owned(),
        source,
    })
}

fn read_chain(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    parse_chain(key, path, &read(key, path)?)
}

fn read_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    parse_key(key, path, &read(key, path)?)
}

fn parse_chain(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::Parse {
        key,
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad("no PEM CERTIFICATE in it".into()));
    }
    Ok(chain)
}

fn parse_key(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Parse {
        key,
        path: path.to_owned(),
        reason: format!(
            "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it: {e}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_pem_names_its_setting_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        fs::write(&cert, "not a certificate").unwrap();
        fs::write(&key, "not a key").unwrap();
        let err = load_or_create(dir.path(), Some((&cert, &key))).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("mqtts_cert "), "{text}");
        assert!(text.contains(&cert.display().to_string()), "{text}");

        let missing = dir.path().join("missing.pem");
        let err = load_or_create(dir.path(), Some((&missing, &key))).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Io {
                    key: "mqtts_cert",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }
}

//! Development certificates: a CA and a node certificate signed by it, so a cluster runs with
//! TLS on from the first minute (`grove-node certs --out dir`). One node certificate, valid for
//! every host given, is shared by all nodes: good for a laptop and for tests. In production,
//! give each node its own certificate from your own CA (cert-manager in Kubernetes).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::config::TlsFiles;

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused (a host that is neither a DNS name nor an IP address, say).
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes `ca.pem`, `node.pem` and `node-key.pem` into `dir` (created if needed): a new
/// development CA, and a certificate for `hosts` (DNS names or IP addresses) that serves both as
/// a TLS server and client certificate. Returns the files, ready for `NodeBuilder::tls`.
pub fn generate_dev_certs(dir: &Path, hosts: &[String]) -> Result<TlsFiles, CertError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Grove development CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut node_params = CertificateParams::new(hosts.to_vec())?;
    node_params
        .distinguished_name
        .push(DnType::CommonName, "Grove development node");
    node_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    node_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let node_key = KeyPair::generate()?;
    let node_cert = node_params.signed_by(&node_key, &ca)?;

    std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = TlsFiles::in_dir(dir);
    let write = |path: &Path, contents: String| {
        std::fs::write(path, contents).map_err(|source| CertError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    write(&files.ca, ca.pem())?;
    write(&files.cert, node_cert.pem())?;
    write(&files.key, node_key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_certs_load_as_the_nodes_tls_setup() {
        let dir = std::env::temp_dir().join(format!("grove-certs-{}", std::process::id()));
        let files =
            generate_dev_certs(&dir, &["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        assert!(crate::tls::Tls::load(&files).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Mutual TLS between nodes, with rustls: both sides present a certificate signed by the
//! cluster's CA and check the other's. A node without such a certificate cannot even start the
//! Grove handshake, and a node name is bound to the certificate: the host part of the name a
//! peer claims (`name@host`) must be a DNS name or IP address of its certificate
//! ([`certificate_names`]), so a holder of one node's certificate cannot pass for another node.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{NodeError, TlsFiles};

/// The node's TLS acceptor and connector, built once at start.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

impl Tls {
    pub(crate) fn load(files: &TlsFiles) -> Result<Tls, NodeError> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|error| {
                NodeError::Tls(format!(
                    "cannot read the {what} at {}: {error}",
                    path.display()
                ))
            })
        };
        let ca = read(&files.ca, "CA certificate")?;
        let cert = read(&files.cert, "node certificate")?;
        let key = read(&files.key, "node key")?;
        let bad = |what: &str, error: &dyn std::fmt::Display| {
            NodeError::Tls(format!("the {what} is not valid PEM: {error}"))
        };
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&ca) {
            let ca = ca.map_err(|e| bad("CA certificate", &e))?;
            roots
                .add(ca)
                .map_err(|e| NodeError::Tls(format!("the CA certificate is not usable: {e}")))?;
        }
        if roots.is_empty() {
            return Err(NodeError::Tls(format!(
                "no certificate in {}",
                files.ca.display()
            )));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<_, _>>()
            .map_err(|e| bad("node certificate", &e))?;
        if chain.is_empty() {
            return Err(NodeError::Tls(format!(
                "no certificate in {}",
                files.cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad("node key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| NodeError::Tls(format!("client verifier: {e}")))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NodeError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| NodeError::Tls(format!("the node certificate and key do not fit: {e}")))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NodeError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| NodeError::Tls(format!("the node certificate and key do not fit: {e}")))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// Whether `certificate` (a peer's end-entity certificate) names the host of the node name
/// `node` (`name@host`) among its subject alternative names; why not, if it does not.
pub(crate) fn certificate_names(
    certificate: &CertificateDer<'_>,
    node: &str,
) -> Result<(), String> {
    let host = node.rsplit_once('@').map_or(node, |(_, host)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|error| format!("{host:?} is not a host name or address: {error}"))?;
    let certificate = webpki::EndEntityCert::try_from(certificate)
        .map_err(|error| format!("the certificate does not parse: {error}"))?;
    certificate
        .verify_is_valid_for_subject_name(&name)
        .map_err(|_| format!("its certificate does not name the host {host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_for(hosts: &[&str]) -> CertificateDer<'static> {
        let hosts: Vec<String> = hosts.iter().map(|host| host.to_string()).collect();
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(hosts).expect("params");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    #[test]
    fn a_name_must_be_one_the_certificate_gives() {
        let certificate = certificate_for(&["127.0.0.1", "node-a.cluster.local"]);
        assert!(certificate_names(&certificate, "a@127.0.0.1").is_ok());
        assert!(certificate_names(&certificate, "a@node-a.cluster.local").is_ok());
        assert!(certificate_names(&certificate, "a@127.0.0.2").is_err());
        assert!(certificate_names(&certificate, "b@node-b.cluster.local").is_err());
        assert!(certificate_names(&certificate, "b@not a host").is_err());
    }
}

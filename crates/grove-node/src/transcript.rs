//! What a handshake proves, and the keys it leaves: sans-IO.
//!
//! The transcript is a SHA-256 hash of both `Hello` messages exactly as they crossed the wire
//! (every field: magic, versions, names, creations, listen addresses, nonces) and of the
//! channel binding: with TLS, a value exported from this TLS session (RFC 5705), which no other
//! TLS session has; without TLS, nothing. Each side proves it knows the cluster secret with an
//! HMAC-SHA256 of its role and the transcript, so a proof is good for this connection only: a
//! party that relays the hellos between two nodes (a man in the middle of two TLS sessions, or
//! of two plain TCP connections) cannot make either side's proof fit the other connection's
//! transcript, and altering any hello field breaks both proofs.
//!
//! The last word of a handshake, `Accept` or `Refuse` (and its reason), carries an HMAC of the
//! same kind, so a party without the secret can neither turn a refusal into an acceptance nor
//! make up a refusal (which would pass for a benign "already connected").
//!
//! Without TLS the frames after the handshake are sealed ([`crate::record`]) with keys derived
//! from the secret and the transcript (HKDF-SHA256), one per direction: a relay that forwarded
//! a handshake it could not take part in can only go on forwarding bytes it cannot read or
//! change.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::handshake::Role;
use crate::record::Key;

const TRANSCRIPT_LABEL: &[u8] = b"grove-node transcript v4";
const PROOF_LABEL: &[u8] = b"grove-node handshake proof v4";
const DECISION_LABEL: &[u8] = b"grove-node handshake decision v4";
const KEY_LABEL_TO_ACCEPTOR: &[u8] = b"grove-node record key v4: initiator to acceptor";
const KEY_LABEL_TO_INITIATOR: &[u8] = b"grove-node record key v4: acceptor to initiator";

/// The TLS exporter label for the channel binding.
pub(crate) const EXPORTER_LABEL: &[u8] = b"EXPORTER-grove-node-channel-binding";

/// The hash of one connection's handshake.
#[derive(Clone)]
pub(crate) struct Transcript {
    hash: [u8; 32],
}

/// A connection's two record keys, as seen from one end.
pub(crate) struct SessionKeys {
    pub(crate) send: Key,
    pub(crate) receive: Key,
}

impl Transcript {
    /// The transcript of a handshake whose hellos were `initiator_hello` and `acceptor_hello`
    /// (the bodies of their frames), over a channel bound by `binding` (empty without TLS).
    pub(crate) fn new(initiator_hello: &[u8], acceptor_hello: &[u8], binding: &[u8]) -> Self {
        let mut hash = Sha256::new();
        hash.update(TRANSCRIPT_LABEL);
        for part in [initiator_hello, acceptor_hello, binding] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Transcript {
            hash: hash.finalize().into(),
        }
    }

    /// The proof that the side playing `role` knows `secret`.
    pub(crate) fn proof(&self, secret: &[u8], role: Role) -> [u8; 32] {
        self.mac(secret, role).finalize().into_bytes().into()
    }

    /// Whether `proof` is the side playing `role`'s proof (compared in constant time).
    pub(crate) fn verify(&self, secret: &[u8], role: Role, proof: &[u8; 32]) -> bool {
        self.mac(secret, role).verify_slice(proof).is_ok()
    }

    /// The tag on the decision (`None`: accept; `Some(reason)`: refuse) of the side playing
    /// `role`.
    pub(crate) fn decision(&self, secret: &[u8], role: Role, refusal: Option<&str>) -> [u8; 32] {
        self.decision_mac(secret, role, refusal)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the side playing `role`'s tag on this decision (constant time).
    pub(crate) fn verify_decision(
        &self,
        secret: &[u8],
        role: Role,
        refusal: Option<&str>,
        tag: &[u8; 32],
    ) -> bool {
        self.decision_mac(secret, role, refusal)
            .verify_slice(tag)
            .is_ok()
    }

    fn decision_mac(&self, secret: &[u8], role: Role, refusal: Option<&str>) -> Hmac<Sha256> {
        let mut mac = self.keyed(secret, DECISION_LABEL, role);
        match refusal {
            None => mac.update(b"accept"),
            Some(reason) => {
                mac.update(b"refuse");
                mac.update(reason.as_bytes());
            }
        }
        mac
    }

    fn mac(&self, secret: &[u8], role: Role) -> Hmac<Sha256> {
        self.keyed(secret, PROOF_LABEL, role)
    }

    fn keyed(&self, secret: &[u8], label: &[u8], role: Role) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(label);
        mac.update(&[role as u8]);
        mac.update(&self.hash);
        mac
    }

    /// The record keys of the side playing `role`.
    pub(crate) fn session_keys(&self, secret: &[u8], role: Role) -> SessionKeys {
        let hkdf = Hkdf::<Sha256>::new(Some(&self.hash), secret);
        let key = |label: &[u8]| {
            let mut key = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's limit of 8160, so this cannot fail.
            hkdf.expand(label, &mut key)
                .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
            key
        };
        let to_acceptor = key(KEY_LABEL_TO_ACCEPTOR);
        let to_initiator = key(KEY_LABEL_TO_INITIATOR);
        match role {
            Role::Initiator => SessionKeys {
                send: to_acceptor,
                receive: to_initiator,
            },
            Role::Acceptor => SessionKeys {
                send: to_initiator,
                receive: to_acceptor,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_derive_matching_keys_and_different_keys_per_direction() {
        let transcript = Transcript::new(b"hello i", b"hello a", b"");
        let initiator = transcript.session_keys(b"secret", Role::Initiator);
        let acceptor = transcript.session_keys(b"secret", Role::Acceptor);
        assert_eq!(initiator.send, acceptor.receive);
        assert_eq!(initiator.receive, acceptor.send);
        assert_ne!(initiator.send, initiator.receive);
    }

    #[test]
    fn a_proof_fits_one_role_one_secret_and_one_transcript() {
        let transcript = Transcript::new(b"hello i", b"hello a", b"");
        let proof = transcript.proof(b"secret", Role::Initiator);
        assert!(transcript.verify(b"secret", Role::Initiator, &proof));
        // Reflected back as the other role.
        assert!(!transcript.verify(b"secret", Role::Acceptor, &proof));
        // Another secret.
        assert!(!transcript.verify(b"other", Role::Initiator, &proof));
        // Another connection: any hello byte, or another channel binding.
        for other in [
            Transcript::new(b"hello I", b"hello a", b""),
            Transcript::new(b"hello i", b"hello A", b""),
            Transcript::new(b"hello i", b"hello a", b"tls session"),
            // The same bytes cut differently between the parts.
            Transcript::new(b"hello ih", b"ello a", b""),
        ] {
            assert!(!other.verify(b"secret", Role::Initiator, &proof));
        }
    }

    #[test]
    fn a_decision_tag_fits_one_decision_one_role_and_one_transcript() {
        let transcript = Transcript::new(b"hello i", b"hello a", b"");
        let accept = transcript.decision(b"secret", Role::Acceptor, None);
        assert!(transcript.verify_decision(b"secret", Role::Acceptor, None, &accept));
        assert!(!transcript.verify_decision(b"secret", Role::Initiator, None, &accept));
        assert!(!transcript.verify_decision(b"secret", Role::Acceptor, Some(""), &accept));
        assert!(!transcript.verify_decision(b"other", Role::Acceptor, None, &accept));
        let refuse = transcript.decision(b"secret", Role::Acceptor, Some("busy"));
        assert!(!transcript.verify_decision(b"secret", Role::Acceptor, Some("bus"), &refuse));
        let other = Transcript::new(b"hello i", b"hello b", b"");
        assert!(!other.verify_decision(b"secret", Role::Acceptor, None, &accept));
        // Not a proof either.
        assert!(!transcript.verify(b"secret", Role::Acceptor, &accept));
    }

    #[test]
    fn keys_depend_on_the_secret_and_the_transcript() {
        let one = Transcript::new(b"i", b"a", b"").session_keys(b"secret", Role::Initiator);
        let other_secret = Transcript::new(b"i", b"a", b"").session_keys(b"s", Role::Initiator);
        let other_hello = Transcript::new(b"i", b"b", b"").session_keys(b"secret", Role::Initiator);
        assert_ne!(one.send, other_secret.send);
        assert_ne!(one.send, other_hello.send);
    }
}

//! Message signatures, as SNS makes them: `SignatureVersion` 1 is SHA1withRSA, 2 is
//! SHA256withRSA, over the envelope's fields as `name\nvalue\n` lines in a fixed order, base64.
//! `SigningCertURL` names [`CERT_PATH`] on the edge, where the listener serves [`CERT_PEM`]
//! (a self-signed X.509 certificate of the key), so subscribers that check signatures, as
//! the AWS SDKs' message validators do, can check edgestack's too.
//!
//! The key is fixed and public (it ships in this crate, like LocalStack's): a signature shows
//! that a message has the shape and fields SNS signs, not that it came from a trusted party.
//!
//! What is signed (`sns:sns-verify-signature-of-message.html`):
//! - `Notification`: `Message`, `MessageId`, `Subject` (only when present), `Timestamp`,
//!   `TopicArn`, `Type`;
//! - `SubscriptionConfirmation` and `UnsubscribeConfirmation`: `Message`, `MessageId`,
//!   `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`.

use base64::Engine as _;
use rsa::{
    pkcs1v15::SigningKey,
    pkcs8::DecodePrivateKey,
    signature::{SignatureEncoding, Signer as _},
    RsaPrivateKey,
};
use serde_json::{Map, Value};

/// The certificate (PEM) of the signing key, served at [`CERT_PATH`].
pub const CERT_PEM: &str = include_str!("signing/cert.pem");

/// The private key (PKCS#8 PEM). Public on purpose: see the module docs.
const KEY_PEM: &str = include_str!("signing/key.pem");

/// The path (on the edge) of the certificate `SigningCertURL` names.
pub const CERT_PATH: &str = "/_edgestack/sns/SimpleNotificationService-edgestack.pem";

/// The fields a `Notification` signature covers, in order.
const NOTIFICATION_FIELDS: &[&str] = &[
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
];

/// The fields a `SubscriptionConfirmation` / `UnsubscribeConfirmation` signature covers.
const CONFIRMATION_FIELDS: &[&str] = &[
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
];

/// How many recent signatures a [`Signer`] remembers.
const REMEMBERED: usize = 64;

/// Signs envelopes with the edge's key. A message fanned out to several subscriptions has
/// the same string to sign for each (the signature covers no subscription field), and an
/// RSA signature costs milliseconds, so the last 64 signatures are reused.
pub struct Signer {
    sha1: SigningKey<sha1::Sha1>,
    sha256: SigningKey<sha2::Sha256>,
    recent: std::sync::Mutex<std::collections::VecDeque<(bool, String, String)>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Default for Signer {
    fn default() -> Self {
        Signer::new()
    }
}

impl Signer {
    /// The signer of the shipped key.
    pub fn new() -> Signer {
        // The key is part of the crate and checked by its tests: a parse failure is a build
        // defect, not a runtime condition.
        let key = RsaPrivateKey::from_pkcs8_pem(KEY_PEM).expect("the shipped SNS key parses");
        Signer {
            sha1: SigningKey::new(key.clone()),
            sha256: SigningKey::new(key),
            recent: Default::default(),
        }
    }

    /// Sets `Signature` on `envelope` (an SNS message as JSON), per its `SignatureVersion`
    /// ("2": SHA256withRSA, anything else: SHA1withRSA).
    pub fn sign(&self, envelope: &mut Map<String, Value>) {
        let text = string_to_sign(envelope);
        let v2 = envelope.get("SignatureVersion").and_then(Value::as_str) == Some("2");
        let known = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(v, t, _)| *v == v2 && *t == text)
            .map(|(_, _, signature)| signature.clone());
        let encoded = match known {
            Some(signature) => signature,
            None => {
                let signature = if v2 {
                    self.sha256.sign(text.as_bytes()).to_vec()
                } else {
                    self.sha1.sign(text.as_bytes()).to_vec()
                };
                let encoded = base64::engine::general_purpose::STANDARD.encode(signature);
                let mut recent = self
                    .recent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if recent.len() == REMEMBERED {
                    recent.pop_front();
                }
                recent.push_back((v2, text, encoded.clone()));
                encoded
            }
        };
        envelope.insert("Signature".into(), Value::String(encoded));
    }
}

/// The text SNS signs for `envelope`: `name\nvalue\n` for each covered field present.
pub fn string_to_sign(envelope: &Map<String, Value>) -> String {
    let fields = match envelope.get("Type").and_then(Value::as_str) {
        Some("Notification") => NOTIFICATION_FIELDS,
        _ => CONFIRMATION_FIELDS,
    };
    let mut text = String::new();
    for name in fields {
        if let Some(value) = envelope.get(*name).and_then(Value::as_str) {
            text.push_str(name);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use rsa::{pkcs1v15::VerifyingKey, signature::Verifier, RsaPublicKey};
    use serde_json::json;

    use super::*;

    fn envelope(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_string_to_sign_follows_the_documented_order() {
        let n = envelope(json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "t", "Subject": "s",
            "Message": "hello", "Timestamp": "ts", "SignatureVersion": "1",
            "UnsubscribeURL": "u", "MessageAttributes": {},
        }));
        assert_eq!(
            string_to_sign(&n),
            "Message\nhello\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
        );
        let mut no_subject = n.clone();
        no_subject.remove("Subject");
        assert!(!string_to_sign(&no_subject).contains("Subject"));
        let c = envelope(json!({
            "Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "k", "TopicArn": "t",
            "Message": "hi", "SubscribeURL": "su", "Timestamp": "ts",
        }));
        assert_eq!(
            string_to_sign(&c),
            "Message\nhi\nMessageId\nm\nSubscribeURL\nsu\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        );
    }

    #[test]
    fn signatures_verify_with_the_key_for_both_versions() {
        let signer = Signer::new();
        let key = RsaPrivateKey::from_pkcs8_pem(KEY_PEM).unwrap();
        let public = RsaPublicKey::from(&key);
        for version in ["1", "2"] {
            let mut n = envelope(json!({
                "Type": "Notification", "MessageId": "m", "TopicArn": "t",
                "Message": "hello", "Timestamp": "ts", "SignatureVersion": version,
            }));
            signer.sign(&mut n);
            let sig = base64::engine::general_purpose::STANDARD
                .decode(n["Signature"].as_str().unwrap())
                .unwrap();
            let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
            let text = string_to_sign(&n);
            let ok = if version == "2" {
                VerifyingKey::<sha2::Sha256>::new(public.clone()).verify(text.as_bytes(), &sig)
            } else {
                VerifyingKey::<sha1::Sha1>::new(public.clone()).verify(text.as_bytes(), &sig)
            };
            assert!(ok.is_ok(), "version {version}");
            // A changed field no longer verifies.
            let changed = text.replace("hello", "hellO");
            assert!(VerifyingKey::<sha1::Sha1>::new(public.clone())
                .verify(changed.as_bytes(), &sig)
                .is_err());
        }
        assert!(CERT_PEM.starts_with("-----BEGIN CERTIFICATE-----"));
        // Two subscriptions' copies of one message (their URLs differ, the signed fields do
        // not): one signature, remembered.
        let copy = |unsubscribe: &str| {
            envelope(json!({
                "Type": "Notification", "MessageId": "m2", "TopicArn": "t", "Message": "x",
                "Timestamp": "ts", "SignatureVersion": "1", "UnsubscribeURL": unsubscribe,
            }))
        };
        let (mut a, mut b) = (copy("u1"), copy("u2"));
        signer.sign(&mut a);
        signer.sign(&mut b);
        assert_eq!(a["Signature"], b["Signature"]);
        assert_eq!(signer.recent.lock().unwrap().len(), 3);
    }
}

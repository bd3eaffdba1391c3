//! HMAC (RFC 2104) over SHA-2, for `client_secret_jwt` assertions (HS256/384/512, RFC 7518
//! §3.2). The core signs these itself: the key is the client secret it already holds.

use sha2::Digest;

/// `HMAC-H(key, message)`; `block` is H's block size in bytes.
fn hmac<H: Digest>(block: usize, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > block {
        H::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(block, 0);
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = H::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    H::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// HMAC-SHA-256 (RFC 2104, RFC 4231).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::<sha2::Sha256>(64, key, message)
}

/// HMAC with the hash of an `HS*` algorithm; `None` for any other algorithm.
pub(crate) fn sign(alg: crate::jws::Algorithm, key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    use crate::jws::Algorithm;
    Some(match alg {
        Algorithm::HS256 => hmac::<sha2::Sha256>(64, key, message),
        Algorithm::HS384 => hmac::<sha2::Sha384>(128, key, message),
        Algorithm::HS512 => hmac::<sha2::Sha512>(128, key, message),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::Algorithm;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 4231 §4.2, §4.3 and §4.7 (a key longer than the block).
    #[test]
    fn rfc_4231_vectors() {
        let k1 = [0x0b; 20];
        assert_eq!(
            hex(&sign(Algorithm::HS256, &k1, b"Hi There").unwrap()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&sign(Algorithm::HS384, &k1, b"Hi There").unwrap()),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"
        );
        assert_eq!(
            hex(&sign(Algorithm::HS512, &k1, b"Hi There").unwrap()),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        );
        assert_eq!(
            hex(&sign(Algorithm::HS256, b"Jefe", b"what do ya want for nothing?").unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = [0xaa; 131];
        assert_eq!(
            hex(&sign(
                Algorithm::HS256,
                &long,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
            )
            .unwrap()),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
        assert!(sign(Algorithm::RS256, b"k", b"m").is_none());
    }
}

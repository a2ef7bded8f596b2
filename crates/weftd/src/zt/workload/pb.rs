//! The Workload API's messages (SPIFFE `workload.proto`), encoded by hand in
//! the protobuf wire format: only the ones this server sends.
//!
//! ```text
//! message X509SVIDResponse { repeated X509SVID svids = 1; repeated bytes crl = 2;
//!                            map<string, bytes> federated_bundles = 3; }
//! message X509SVID { string spiffe_id = 1; bytes x509_svid = 2; bytes x509_svid_key = 3;
//!                    bytes bundle = 4; string hint = 5; }
//! message X509BundlesResponse { repeated bytes crl = 1; map<string, bytes> bundles = 2; }
//! ```
//!
//! `x509_svid` is the leaf and intermediates, DER, concatenated; the key is
//! PKCS#8 DER; bundles are the trust domain's root certificates, DER,
//! concatenated. Empty fields are left out (proto3 defaults).

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field (wire type 2): strings, bytes, embedded messages.
fn field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    varint(out, u64::from(number) << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One SVID for `X509SVIDResponse.svids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Svid<'a> {
    /// The SPIFFE ID.
    pub spiffe_id: &'a str,
    /// Leaf first, then intermediates, DER.
    pub chain: &'a [Vec<u8>],
    /// PKCS#8 DER.
    pub key: &'a [u8],
    /// The trust bundle's roots, DER.
    pub bundle: &'a [Vec<u8>],
}

/// An encoded `X509SVIDResponse`.
pub fn x509_svid_response(svids: &[X509Svid<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in svids {
        let mut m = Vec::new();
        field(&mut m, 1, s.spiffe_id.as_bytes());
        field(&mut m, 2, &s.chain.concat());
        field(&mut m, 3, s.key);
        field(&mut m, 4, &s.bundle.concat());
        field(&mut out, 1, &m);
    }
    out
}

/// An encoded `X509BundlesResponse` with one bundle per trust domain
/// (`spiffe://TD` → its roots).
pub fn x509_bundles_response(bundles: &[(String, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (td, roots) in bundles {
        let mut entry = Vec::new();
        field(&mut entry, 1, td.as_bytes());
        field(&mut entry, 2, &roots.concat());
        field(&mut out, 2, &entry);
    }
    out
}

/// A gRPC message frame: uncompressed flag, big-endian length, the message.
pub fn grpc_frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + msg.len());
    out.push(0);
    out.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_are_protobuf_encoded() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut f = Vec::new();
        field(&mut f, 2, b"ab");
        assert_eq!(f, [0x12, 2, b'a', b'b']);
    }

    #[test]
    fn an_svid_response_nests_its_svids_in_field_one() {
        let chain = [vec![1, 2], vec![3]];
        let bundle = [vec![9]];
        let svid =
            X509Svid { spiffe_id: "spiffe://t/a", chain: &chain, key: &[7], bundle: &bundle };
        let msg = x509_svid_response(&[svid]);
        // field 1, length 25: (id 2+12) (chain 2+3) (key 2+1) (bundle 2+1)
        assert_eq!(&msg[..2], &[0x0a, 25]);
        assert_eq!(&msg[2..4], &[0x0a, 12]);
        assert_eq!(&msg[16..], &[0x12, 3, 1, 2, 3, 0x1a, 1, 7, 0x22, 1, 9]);
        assert_eq!(grpc_frame(&[5, 6]), [0, 0, 0, 0, 2, 5, 6]);
        let b = x509_bundles_response(&[("spiffe://t".to_owned(), vec![vec![1], vec![2]])]);
        assert_eq!(
            b,
            [
                0x12, 16, 0x0a, 10, b's', b'p', b'i', b'f', b'f', b'e', b':', b'/', b'/', b't',
                0x12, 2, 1, 2
            ]
        );
    }
}

//! Join tokens as an operator pastes them (`weftd --join weft1.…`): a real
//! token signed by a fixed CA, damaged by the fuzz input (bytes XORed into
//! its wire form, or its text replaced), goes through the same parsing and
//! checking a joining site does. Never a panic; a token that still verifies
//! under the CA is the original, byte for byte (no damage is accepted);
//! whatever parses formats back to text that parses to the same token.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_mesh::identity::{JoinToken, Label, LearnRanges, MeshCa, PrefixList, TokenBody, TokenId};

fn ca() -> &'static MeshCa {
    static CA: OnceLock<MeshCa> = OnceLock::new();
    CA.get_or_init(|| MeshCa::from_seed(&[0x5a; 32]))
}

fn original() -> &'static JoinToken {
    static TOKEN: OnceLock<JoinToken> = OnceLock::new();
    TOKEN.get_or_init(|| {
        ca().issue_token(TokenBody {
            id: TokenId([9; 16]),
            expires_at: 1_700_003_600,
            max_uses: 3,
            role: Label::new("branch").unwrap(),
            region: Label::new("eu-west").unwrap(),
            allowed_prefixes: Some(PrefixList::new(vec!["10.8.0.0/16".parse().unwrap()]).unwrap()),
            allowed_learn: LearnRanges::new(vec!["10.60.0.0/16".parse().unwrap()]).unwrap(),
        })
    })
}

/// Parses `text` as a joining site does and checks what must hold.
fn check_text(text: &str) {
    let Ok(token) = JoinToken::from_text(text.trim()) else { return };
    assert_eq!(JoinToken::from_text(&token.to_text()).unwrap(), token);
    if token.verify(&ca().public()).is_ok() {
        assert_eq!(&token, original(), "a damaged token verified");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut wire = original().encode();
    let n = wire.len();
    for (i, b) in data.iter().enumerate() {
        wire[i % n] ^= b;
    }
    if let Ok(token) = JoinToken::decode(&wire) {
        if token.verify(&ca().public()).is_ok() {
            assert_eq!(wire, original().encode(), "a damaged token verified");
        }
        check_text(&token.to_text());
    }
    check_text(&String::from_utf8_lossy(data));
});

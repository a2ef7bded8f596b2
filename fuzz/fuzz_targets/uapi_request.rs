//! The WireGuard UAPI text protocol as weftd reads it from its socket:
//! arbitrary bytes through the framing and the parser. Never a panic; a
//! request ends at its empty line whatever prefix arrived first; a parsed
//! `set` written back out parses to the same request; and the agent's
//! planner of `set` (what `wg set` may change) keeps its promises on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weftd::uapi::{Framed, Request, next_request, parse_request};

fuzz_target!(|data: &[u8]| {
    let Framed::Complete(parsed, used) = next_request(data) else { return };
    assert!(used >= 1 && used <= data.len() && data[used - 1] == b'\n');
    // Any shorter prefix is still incomplete: reads may split a request anywhere.
    let cut = usize::from(data[0]) % used;
    assert_eq!(next_request(&data[..cut]), Framed::Incomplete);
    if let Ok(Request::Set(pairs)) = parsed {
        let mut text = String::from("set=1\n");
        for (k, v) in &pairs {
            text.push_str(&format!("{k}={v}\n"));
        }
        assert_eq!(parse_request(&text), Ok(Request::Set(pairs.clone())));
        let _ = weftd::fuzzing::uapi_set(&pairs);
    }
});

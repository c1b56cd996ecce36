//! XMPP stream bytes from a server: framed into stanzas, each parsed and, if a connection request, judged.
#![no_main]
use icwmp::wire::scram::ScramClient;
use icwmp::wire::xmpp::{
    judge_connection_request, parse_stanza, Frame, IqPayload, Stanza, StreamFramer,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut framer = StreamFramer::new();
    let allowed = vec!["acs@localhost".to_owned()];
    // The input arrives in pieces split at NUL bytes, as reads would deliver it.
    for piece in data.split(|&b| b == 0).take(64) {
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Stanza(bytes))) => match parse_stanza(&bytes) {
                    Ok(Stanza::Iq(iq)) => {
                        if let IqPayload::ConnectionRequest(element) = &iq.payload {
                            let verdict = judge_connection_request(
                                &iq.from, element, &allowed, "cpe", "secret",
                            );
                            let _ = verdict.answer(&iq.id, &iq.from);
                        }
                    }
                    Ok(Stanza::SaslChallenge(challenge)) => {
                        let mut scram = ScramClient::new("cpe", "pw", "nonce");
                        let _ = scram.client_final(&challenge);
                    }
                    Ok(Stanza::SaslSuccess(data)) => {
                        let _ = ScramClient::new("cpe", "pw", "n").verify_server_final(&data);
                    }
                    _ => {}
                },
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});

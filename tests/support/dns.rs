//! A small DNS responder for the NSLookup tests: answers A/AAAA from a table, NXDOMAIN for unknown names, silence for names it is told to ignore.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct DnsResponder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// How the responder treats a name.
#[derive(Clone, Debug)]
pub enum Entry {
    Addresses(Vec<IpAddr>),
    /// An alias, then the target's addresses.
    Alias(String, Vec<IpAddr>),
    /// Never answered.
    Silent,
}

impl DnsResponder {
    /// Serves `table` on `bind` (authoritative answers).
    pub fn start(bind: SocketAddr, table: BTreeMap<String, Entry>) -> DnsResponder {
        let socket = UdpSocket::bind(bind).expect("bind DNS responder");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (stop2, queries2) = (stop.clone(), queries.clone());
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                queries2.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = answer(&buffer[..len], &table) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        DnsResponder {
            addr,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reply to one query, written out byte by byte (no code shared with the client under test).
fn answer(query: &[u8], table: &BTreeMap<String, Entry>) -> Option<Vec<u8>> {
    // Header (12) then one question: labels, type, class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let name = labels.join(".");
    let mut records: Vec<Vec<u8>> = Vec::new();
    let rcode = match table.get(&name) {
        None => 3,
        Some(Entry::Silent) => return None,
        Some(Entry::Addresses(addresses)) => {
            records.extend(address_records(&[0xC0, 12], qtype, addresses));
            0
        }
        Some(Entry::Alias(target, addresses)) => {
            let mut cname = vec![0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60];
            let mut data = Vec::new();
            for label in target.split('.') {
                data.push(label.len() as u8);
                data.extend_from_slice(label.as_bytes());
            }
            data.push(0);
            cname.extend_from_slice(&(data.len() as u16).to_be_bytes());
            cname.extend_from_slice(&data);
            // The target's name starts 12 bytes into this record, after the question.
            let target_at = (question_end + 12) as u16;
            records.push(cname);
            records.extend(address_records(
                &(0xC000 | target_at).to_be_bytes(),
                qtype,
                addresses,
            ));
            0
        }
    };
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x85; // QR, AA, RD
    reply[3] = 0x80 | rcode; // RA
    reply[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    reply[8..12].copy_from_slice(&[0, 0, 0, 0]);
    for record in records {
        reply.extend_from_slice(&record);
    }
    Some(reply)
}

fn address_records(name: &[u8], qtype: u16, addresses: &[IpAddr]) -> Vec<Vec<u8>> {
    addresses
        .iter()
        .filter_map(|address| {
            let (rtype, data) = match address {
                IpAddr::V4(v4) if qtype == 1 => (1u16, v4.octets().to_vec()),
                IpAddr::V6(v6) if qtype == 28 => (28u16, v6.octets().to_vec()),
                _ => return None,
            };
            let mut record = name.to_vec();
            record.extend_from_slice(&rtype.to_be_bytes());
            record.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            record.extend_from_slice(&(data.len() as u16).to_be_bytes());
            record.extend_from_slice(&data);
            Some(record)
        })
        .collect()
}

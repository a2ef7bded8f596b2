//! `weft-controller`: one control-plane controller for the HA lab.
//!
//! It campaigns for the leader key on the etcd cluster given, and while it
//! leads it publishes a fenced heartbeat (`/weft/control/heartbeat` =
//! `ID EPOCH SEQ`) every `--publish-every`. Every event is a JSON line on
//! stdout with the Unix time in milliseconds, so a lab script can measure
//! failover and count publications:
//!
//! ```text
//! {"t_ms":…,"id":"c1","event":"elected","epoch":42}
//! {"t_ms":…,"id":"c1","event":"published","epoch":42,"seq":7,"revision":57}
//! {"t_ms":…,"id":"c1","event":"fenced","epoch":42,"seq":8}
//! {"t_ms":…,"id":"c2","event":"leader_seen","holder":"c1","epoch":42}
//! {"t_ms":…,"id":"c1","event":"stepped_down","epoch":42,"why":"…"}
//! ```
//!
//! Usage: `weft-controller --endpoints 127.0.0.1:2379,… --id c1 [--key K]
//! [--publish-every 100ms]`. SIGTERM is not handled specially: the lab
//! kills with -9 on purpose, and the lease expires.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_control::{ElectionConfig, ElectionEvent};
use weft_etcd::{Controller, EtcdStore, FencedOutcome};

const HEARTBEAT: &str = "/weft/control/heartbeat";

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn usage(why: &str) -> ! {
    eprintln!("weft-controller: {why}");
    eprintln!(
        "usage: weft-controller --endpoints HOST:PORT[,HOST:PORT…] --id ID [--key KEY] [--publish-every MS]"
    );
    std::process::exit(2);
}

fn main() {
    let mut endpoints = Vec::new();
    let mut id = None;
    let mut key = "/weft/control/leader".to_owned();
    let mut every = Duration::from_millis(100);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--endpoints" => {
                for e in value().split(',') {
                    let addr: SocketAddr =
                        e.parse().unwrap_or_else(|_| usage(&format!("{e:?} is not HOST:PORT")));
                    endpoints.push(addr);
                }
            }
            "--id" => id = Some(value()),
            "--key" => key = value(),
            "--publish-every" => {
                let ms: u64 = value()
                    .trim_end_matches("ms")
                    .parse()
                    .unwrap_or_else(|_| usage("--publish-every takes milliseconds"));
                every = Duration::from_millis(ms.max(1));
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let id = id.unwrap_or_else(|| usage("--id is required"));
    if endpoints.is_empty() {
        usage("--endpoints is required");
    }
    let cfg = ElectionConfig::new(key, id.clone());
    let timeout = cfg.call_timeout;
    let mut ctl =
        Controller::new(cfg, EtcdStore::new(endpoints)).unwrap_or_else(|e| usage(&e.to_string()));
    let print = |line: String| println!("{{\"t_ms\":{},\"id\":\"{id}\",{line}}}", unix_ms());
    let mut seq = 0u64;
    let mut next_publish = std::time::Instant::now();
    loop {
        let sleep = ctl.turn(|e| match e {
            ElectionEvent::Elected { epoch } => {
                print(format!("\"event\":\"elected\",\"epoch\":{}", epoch.0));
            }
            ElectionEvent::SteppedDown { epoch, why } => print(format!(
                "\"event\":\"stepped_down\",\"epoch\":{},\"why\":{}",
                epoch.0,
                serde_json::Value::from(why.as_str())
            )),
            ElectionEvent::LeaderSeen { holder, epoch } => print(format!(
                "\"event\":\"leader_seen\",\"holder\":\"{holder}\",\"epoch\":{}",
                epoch.0
            )),
        });
        let now = std::time::Instant::now();
        if now >= next_publish {
            next_publish = now + every;
            if let Some(fence) = ctl.fence() {
                seq += 1;
                let value = format!("{id} {} {seq}", fence.epoch.0);
                match ctl.store().fenced_put(&fence, HEARTBEAT, &value, timeout) {
                    Ok(FencedOutcome::Applied(rev)) => print(format!(
                        "\"event\":\"published\",\"epoch\":{},\"seq\":{seq},\"revision\":{rev}",
                        fence.epoch.0
                    )),
                    Ok(FencedOutcome::Fenced) => {
                        print(format!(
                            "\"event\":\"fenced\",\"epoch\":{},\"seq\":{seq}",
                            fence.epoch.0
                        ));
                        ctl.fenced_out(&fence);
                    }
                    Err(e) => print(format!(
                        "\"event\":\"publish_failed\",\"epoch\":{},\"seq\":{seq},\"why\":{}",
                        fence.epoch.0,
                        serde_json::Value::from(e.to_string())
                    )),
                }
            }
        }
        std::thread::sleep(
            sleep.min(next_publish.saturating_duration_since(now)).max(Duration::from_millis(1)),
        );
    }
}

//! `weft events [--follow] [--after N]`: the agent's event log.
//!
//! Without `--follow` it prints the stored events (after id N) from
//! `/api/v1/events/history`, all pages. With `--follow` it streams
//! `/api/v1/events` (server-sent events) until interrupted: when the stream
//! breaks it waits (0.5 s, doubling to 5 s; back to 0.5 s once events flow
//! again), reconnects with `Last-Event-ID` set to the last event printed,
//! and says so on stderr. Events at or below that id are never printed
//! twice. Without `--after`, `--follow` starts with the agent's live events.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use weft_api::Event;

use super::client::{AgentArgs, Client, ClientError, Query, SseEvent};
use super::output::outln;
use super::output::{ms, print_json, utc_ms};

/// First wait before reconnecting.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// `weft events` options.
#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    /// Keep streaming new events (reconnecting, without gaps, if the stream breaks).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only events after this id.
    #[arg(long, value_name = "N")]
    after: Option<u64>,
    /// Print JSON: an array of the stored events, or with --follow one event
    /// object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft events`.
pub(crate) fn run(args: &EventsArgs) -> Result<ExitCode> {
    let client = args.agent.client();
    if args.follow {
        let mut pause = |d: Duration| {
            std::thread::sleep(d);
            true
        };
        // Without --after, start from the newest event now, so that a stream
        // that breaks before its first event resumes without a gap.
        let after = args.after.or_else(|| {
            client.get::<weft_api::Status>("/api/v1/status").ok().map(|s| s.last_event_id)
        });
        follow(&client, after, args.json, &mut io::stdout(), &mut io::stderr(), &mut pause)?;
        return Ok(ExitCode::SUCCESS);
    }
    let q = Query::default().opt("after", args.after);
    let all = client.get_all("/api/v1/events/history", &q)?;
    if args.json {
        print_json(&all)?;
    } else {
        let events: Vec<Event> = super::decode_all(all, "events")?;
        if events.is_empty() {
            outln!("no events");
        }
        for e in &events {
            outln!("{}", line(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `#12 2026-12-01 22:57:41.123Z path_down b via u0 is down (3 probes lost)`.
pub(crate) fn line(e: &Event) -> String {
    format!("#{} {} {} {}", e.id, utc_ms(e.at_unix_ms), e.kind.as_str(), e.message)
}

/// What one connection of the stream ended with.
enum End {
    /// The stream broke or could not be opened; try again.
    Retry(String),
    /// Stop: the output is gone (a closed pipe).
    Stop,
}

/// Streams events to `out` forever: reconnects with backoff, resuming after
/// the last event printed. `pause(d)` waits `d` before a reconnect and
/// returns whether to go on (tests stop it; the CLI sleeps).
pub(crate) fn follow(
    client: &Client,
    after: Option<u64>,
    json: bool,
    out: &mut dyn Write,
    notices: &mut dyn Write,
    pause: &mut dyn FnMut(Duration) -> bool,
) -> Result<()> {
    let mut last = after;
    let mut backoff = MIN_BACKOFF;
    let mut interrupted = false;
    loop {
        let end = match client.event_stream("/api/v1/events", last) {
            Ok(stream) => {
                if interrupted {
                    let from = last.map_or_else(|| "live".to_owned(), |l| format!("after #{l}"));
                    let _ = writeln!(notices, "weft: reconnected; resuming {from}");
                }
                let mut got = false;
                let mut end = End::Retry("the agent closed the stream".to_owned());
                for item in stream {
                    match item {
                        Ok(sse) => {
                            let Ok(printed) = print_event(&sse, &mut last, json, out, notices)
                            else {
                                end = End::Stop;
                                break;
                            };
                            got |= printed;
                        }
                        Err(e) => {
                            end = End::Retry(format!("{:#}", anyhow::Error::new(e)));
                            break;
                        }
                    }
                }
                if got {
                    backoff = MIN_BACKOFF;
                }
                end
            }
            Err(e) if gives_up(&e) => return Err(e.into()),
            Err(e) => End::Retry(format!("{:#}", anyhow::Error::new(e))),
        };
        let End::Retry(reason) = end else { return Ok(()) };
        let resume = last.map_or_else(String::new, |l| format!(" after event #{l}"));
        let _ = writeln!(
            notices,
            "weft: event stream interrupted ({reason}); reconnecting in {}{resume}",
            ms(backoff.as_secs_f64() * 1000.0)
        );
        interrupted = true;
        if !pause(backoff) {
            return Ok(());
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Errors no reconnect will cure: refused credentials, a 4xx.
fn gives_up(e: &ClientError) -> bool {
    match e {
        ClientError::Auth { .. } => true,
        ClientError::Api { status, .. } => *status < 500,
        _ => false,
    }
}

/// Prints one event unless it was printed already; `Ok(true)` if printed.
/// An output error (closed pipe) is returned.
fn print_event(
    sse: &SseEvent,
    last: &mut Option<u64>,
    json: bool,
    out: &mut dyn Write,
    notices: &mut dyn Write,
) -> io::Result<bool> {
    let value: Option<Value> = serde_json::from_str(&sse.data).ok();
    let id = value
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(Value::as_u64)
        .or_else(|| sse.id.as_deref().and_then(|i| i.parse().ok()));
    if let (Some(id), Some(l)) = (id, *last)
        && id <= l
    {
        return Ok(false);
    }
    let text = match (json, value) {
        (true, Some(v)) => Some(v.to_string()),
        (false, Some(v)) => serde_json::from_value::<Event>(v).ok().map(|e| line(&e)),
        (_, None) => None,
    };
    let Some(text) = text else {
        let _ = writeln!(notices, "weft: skipping an event this weft cannot read: {}", sse.data);
        if id.is_some() {
            *last = id;
        }
        return Ok(false);
    };
    writeln!(out, "{text}")?;
    out.flush()?;
    if id.is_some() {
        *last = id;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use weft_api::EventKind;

    use super::super::client::Target;
    use super::super::client::fake::{self, FakeAgent};
    use super::*;

    fn sse(id: u64) -> String {
        let mut e = Event::new(EventKind::PathDown, format!("path {id} down"));
        e.id = id;
        e.at_unix_ms = 1_796_165_861_000 + i64::try_from(id).unwrap();
        format!("id: {id}\nevent: path_down\ndata: {}\n\n", serde_json::to_string(&e).unwrap())
    }

    #[test]
    fn follow_reconnects_with_the_last_event_id_and_prints_no_duplicate() {
        let (one, two, three) = (sse(1), sse(2), sse(3));
        let agent = FakeAgent::unix(vec![
            // Closes without the last chunk after two events.
            fake::chunked("text/event-stream", &[": hello\n\n", &one, &two], false),
            // Replays event 2 before the new one.
            fake::chunked("text/event-stream", &[&two, &three], true),
        ]);
        let (mut out, mut notices, mut pauses) = (Vec::new(), Vec::new(), Vec::new());
        let mut pause = |d| {
            pauses.push(d);
            pauses.len() < 2
        };
        follow(&agent.client(None), None, false, &mut out, &mut notices, &mut pause).unwrap();

        let first = agent.request();
        assert!(!first.to_ascii_lowercase().contains("last-event-id"), "{first}");
        let second = agent.request();
        assert!(second.contains("Last-Event-ID: 2\r\n"), "{second}");
        let out = String::from_utf8(out).unwrap();
        let ids: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(ids, ["#1", "#2", "#3"], "{out}");
        assert!(out.starts_with("#1 2026-12-01 22:57:41.001Z path_down path 1 down\n"), "{out}");
        let notices = String::from_utf8(notices).unwrap();
        assert!(notices.contains("reconnecting in 500 ms after event #2"), "{notices}");
        assert!(notices.contains("reconnected; resuming after #2"), "{notices}");
        assert_eq!(pauses, [MIN_BACKOFF, MIN_BACKOFF]);
    }

    #[test]
    fn follow_backs_off_from_half_a_second_to_five_while_the_agent_is_away() {
        let client = Client::to(Target::Unix(fake::unique_socket_path()), None);
        let (mut out, mut notices, mut pauses) = (Vec::new(), Vec::new(), Vec::new());
        let mut pause = |d| {
            pauses.push(d);
            pauses.len() < 6
        };
        follow(&client, Some(7), true, &mut out, &mut notices, &mut pause).unwrap();
        let ms = |m| Duration::from_millis(m);
        assert_eq!(pauses, [ms(500), ms(1000), ms(2000), ms(4000), ms(5000), ms(5000)]);
        let notices = String::from_utf8(notices).unwrap();
        assert!(notices.contains("cannot reach the agent") && notices.contains("after event #7"));
        assert!(out.is_empty());
    }

    #[test]
    fn follow_gives_up_when_the_agent_refuses_the_token() {
        let body = r#"{"code":"unauthorized","message":"no token"}"#;
        let agent = FakeAgent::unix(vec![fake::json(401, body)]);
        let mut never = |_| panic!("no reconnect after a 401");
        let e =
            follow(&agent.client(None), None, false, &mut io::sink(), &mut io::sink(), &mut never)
                .unwrap_err();
        assert_eq!(super::super::exit_code(&e), 4);
    }

    #[test]
    fn json_follow_prints_one_object_per_line_and_skips_unreadable_events() {
        let mut last = Some(1);
        let (mut out, mut notices) = (Vec::new(), Vec::new());
        let ev =
            |id: &str, data: &str| SseEvent { id: Some(id.into()), event: None, data: data.into() };
        for e in [ev("1", r#"{"id":1}"#), ev("2", "not json"), ev("3", r#"{"id":3,"x":true}"#)] {
            print_event(&e, &mut last, true, &mut out, &mut notices).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "{\"id\":3,\"x\":true}\n");
        assert!(String::from_utf8(notices).unwrap().contains("cannot read: not json"));
        assert_eq!(last, Some(3));
    }
}

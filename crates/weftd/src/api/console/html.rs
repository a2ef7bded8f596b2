//! HTML building blocks of the console: escaping, the page frame (navigation,
//! theme, the live region) and small formatters. Every value that comes from
//! the API state goes through [`esc`] before it reaches a page.

use std::fmt::Write as _;

use weft_api::Scope;

/// `s` with `& < > " '` escaped, safe in text and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The security headers of every console page: scripts and connections only
/// from the agent itself, no framing (no clickjacking of the buttons), no
/// MIME sniffing, no referrer to other sites (`same-origin`: `no-referrer`
/// would make the browser send `Origin: null` on the console's own POSTs,
/// which the Origin check refuses).
pub(crate) fn harden(r: &mut axum::response::Response) {
    use axum::http::HeaderValue;
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'self'",
        ),
    );
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
}

/// Milliseconds with one decimal, or an em dash.
pub(crate) fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} ms"))
}

/// A state badge: the word itself (never colour alone) with a class for colour.
pub(crate) fn badge(state: &str) -> String {
    let class = match state {
        "up" | "local" | "alive" | "allow" | "ok" | "done" => "ok",
        "degraded" | "init" | "cordoned" | "running" | "paused" => "warn",
        "down" | "removed" | "deny" | "drained" | "rolled_back" | "aborted" => "bad",
        _ => "muted",
    };
    format!("<span class=\"badge {class}\" data-state=\"{s}\">{s}</span>", s = esc(state))
}

/// The pages in the navigation: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/ui", "Overview"),
    ("/ui/topology", "Topology"),
    ("/ui/paths", "Paths"),
    ("/ui/flows", "Flows"),
    ("/ui/policies", "Policies"),
    ("/ui/events", "Events"),
    ("/ui/registry", "Registry"),
];

/// One page of the console.
pub(crate) struct Page<'a> {
    /// `<title>` and `<h1>`.
    pub(crate) title: &'a str,
    /// The navigation entry to mark current.
    pub(crate) nav: &'a str,
    /// Who is looking (shown in the header).
    pub(crate) who: &'a str,
    /// Their scope (shown in the header).
    pub(crate) scope: Scope,
    /// Anything before the live region (filters): not replaced.
    pub(crate) intro: String,
    /// The live stream of the page's main fragment, if it has one.
    pub(crate) live: Option<String>,
    /// The main fragment (the part the live stream replaces).
    pub(crate) body: String,
    /// Anything after the live region (forms, charts): not replaced.
    pub(crate) after: String,
    /// Extra `<head>` lines (scripts a page needs).
    pub(crate) head: &'a str,
}

impl Page<'_> {
    /// The whole document.
    pub(crate) fn render(&self) -> String {
        let mut nav = String::new();
        for (href, label) in NAV {
            let current = if *href == self.nav { " aria-current=\"page\"" } else { "" };
            let _ = write!(nav, "<li><a href=\"{href}\"{current}>{label}</a></li>");
        }
        let live = match &self.live {
            Some(url) => format!(
                "<div hx-ext=\"sse\" sse-connect=\"{}\"><div id=\"live\" sse-swap=\"live\" \
                 aria-live=\"polite\">{}</div></div>",
                esc(url),
                self.body
            ),
            None => format!("<div id=\"live\">{}</div>", self.body),
        };
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · Weft</title>\
             <link rel=\"stylesheet\" href=\"/ui/static/console.css\">\
             <script src=\"/ui/static/htmx.min.js\"></script>\
             <script src=\"/ui/static/console.js\"></script>\
             <script src=\"/ui/static/htmx-ext-sse.min.js\"></script>{head}</head>\
             <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
             <header><span class=\"brand\">Weft</span><nav aria-label=\"Pages\"><ul>{nav}</ul></nav>\
             <span class=\"who\">{who} · <span id=\"scope\">{scope}</span></span>\
             <button type=\"button\" id=\"theme\" aria-label=\"Switch dark or light theme\">◐</button>\
             <form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Log out</button></form>\
             </header><main id=\"main\"><h1>{title}</h1>{intro}{live}{after}</main></body></html>",
            title = esc(self.title),
            head = self.head,
            who = esc(self.who),
            scope = self.scope,
            after = self.after,
            intro = self.intro,
        )
    }
}

/// A table with a caption, header cells and pre-rendered rows.
pub(crate) fn table(caption: &str, id: &str, head: &[&str], rows: &[String]) -> String {
    let mut t = format!(
        "<div class=\"scroll\"><table id=\"{id}\"><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in head {
        let _ = write!(t, "<th scope=\"col\">{h}</th>");
    }
    t.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(t, "<tr><td colspan=\"{}\">none</td></tr>", head.len());
    }
    for r in rows {
        t.push_str(r);
    }
    t.push_str("</tbody></table></div>");
    t
}

/// A Unix-millisecond time as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_state_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert!(badge("<x>").contains("&lt;x&gt;"));
    }

    #[test]
    fn unix_milliseconds_render_as_utc_date_and_time() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_709_210_096_000), "2024-02-29 12:34:56");
    }
}

//! From text to a validated [`Scenario`]: TOML with spans (`raw`), then
//! semantic checks that collect every problem with its `file:line:col`.

mod asserts;
mod check;
mod control;
mod faults;
mod raw;
mod sites;
mod topology;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use weft_types::Diagnostic;

use crate::scenario::Scenario;
use check::Checker;

/// Parses and validates a scenario; `file` names it in diagnostics and in the
/// returned [`Scenario::file`]. On failure, every problem found, each naming
/// file, line and column (a TOML syntax error stops at the first).
pub fn parse(file: &Path, source: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let raw: raw::RawFile = toml::from_str(source)
        .map_err(|e| vec![Diagnostic::at(file, source, e.span(), e.message().trim_end())])?;
    let mut c = Checker::new(file, source);
    let header = topology::header(&mut c, &raw.scenario);
    let topology = topology::topology(&mut c, &raw.topology);
    let (Some(topology), Some(header)) = (topology, header) else {
        return Err(c.into_errors());
    };
    let run_end = header.duration;
    let control = raw.control.as_ref().and_then(|r| control::control(&mut c, &topology, r));
    let cx = check::Context { topology: &topology, run_end, control: control.as_ref() };
    let flows = topology::flows(&mut c, &cx, &raw.flow);
    let faults = faults::faults(&mut c, &cx, &raw.fault);
    let assertions = asserts::assertions(&mut c, &cx, &flows, &faults, &raw.assert);
    if c.has_errors() {
        return Err(c.into_errors());
    }
    Ok(Scenario {
        file: file.to_owned(),
        name: header.name,
        description: header.description,
        duration: run_end,
        seeds: header.seeds,
        topology,
        control,
        flows,
        faults,
        assertions,
    })
}

/// The `[scenario]` table, validated.
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) duration: Duration,
    pub(crate) seeds: u32,
}

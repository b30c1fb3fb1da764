//! A session: many commands against ONE booted simulated kernel, so that what one command does
//! (a filter, held clients, file operations, an unload) is what the next one sees. Commands come
//! from stdin (`shell`) or a file (`script`, each line echoed before its output).

use super::commands;
use super::out::{Out, StderrProgress};
use super::{Env, Failure, KernelCommand};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use userclient_test::backend::User;
use userclient_test::client::{Client, ClientInfo, Seen};
use userclient_test::codes::Code;
use userclient_test::fileops::{FileEvent, FileOp};
use userclient_test::report::Exit;
use userclient_test::sim::SimBackend;
use userclient_test::stats;

/// One line of a session.
#[derive(Debug, Parser)]
#[command(
    name = "session",
    no_binary_name = true,
    disable_version_flag = true,
    help_template = "{all-args}"
)]
struct Line {
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    #[command(flatten)]
    Kernel(KernelCommand),
    /// Open a client and keep it open across the next commands
    Open,
    /// Close a client opened with `open` (the last one, or ID)
    Close { id: Option<u64> },
    /// The FILEOP events of creating (or writing) the file PATH (absolute): OPEN, then CLOSE
    Touch { path: PathBuf },
    /// N file operations under the absolute directory DIR, cycling write, read, rename,
    /// delete; prints each counter that changed as `NAME: BEFORE -> AFTER`
    Fileops {
        #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        n: u32,
        dir: PathBuf,
    },
    /// Let SECS of simulated time pass (timers fire; background operations run)
    Sleep {
        #[arg(value_parser = super::parse_secs)]
        secs: Duration,
    },
    /// From now on, N file operations under DIR in each simulated second (`background 0`
    /// stops them)
    Background { n: u32, dir: Option<PathBuf> },
    /// End the session
    #[command(alias = "exit")]
    Quit,
}

/// What runs in the background of simulated time.
struct State {
    background: Option<(u32, PathBuf)>,
    /// The number of the next generated operation (see [`operations`]).
    next_op: u64,
}

/// The operations of `fileops`: `n` of them under `dir`, continuing the cycle write, read,
/// rename, delete at operation number `first` (file `first / 4`), so that a file is never
/// reused; returns them and the next operation number.
fn operations(n: u32, dir: &Path, first: u64) -> (Vec<FileOp>, u64) {
    let ops = (first..first + u64::from(n))
        .map(|k| {
            let f = dir.join(format!("file{}", k / 4));
            let renamed = dir.join(format!("file{}.old", k / 4));
            match k % 4 {
                0 => FileOp::Write(f),
                1 => FileOp::Read(f),
                2 => FileOp::Rename(f, renamed),
                _ => FileOp::Delete(renamed),
            }
        })
        .collect();
    (ops, first + u64::from(n))
}

fn absolute(p: &Path) -> Result<(), Failure> {
    if p.is_absolute() && p.to_str().is_some() {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "{}: an absolute UTF-8 path (the kernel reports absolute paths)",
            p.display()
        )))
    }
}

/// Runs the session; its exit status is the first failing command's (a script stops there), 0
/// when every command succeeded.
pub fn run(
    sim: &SimBackend,
    bundle_id: &str,
    out: &Out,
    progress: &StderrProgress,
    script: Option<(String, String)>,
) -> Exit {
    let state = RefCell::new(State {
        background: None,
        next_op: 0,
    });
    let fire = |ops: &[FileOp]| -> Result<usize, String> {
        let events: Vec<FileEvent> = ops.iter().flat_map(FileOp::events).collect();
        sim.fire_events(&events)?;
        Ok(events.len())
    };
    // Simulated time passes one second at a time; the background operations run in each.
    let pass = |d: Duration| {
        let mut left = d;
        while !left.is_zero() {
            let step = left.min(Duration::from_secs(1));
            sim.advance_clock(step);
            left -= step;
            let mut st = state.borrow_mut();
            if let Some((n, dir)) = st.background.clone() {
                let (ops, next) = operations(n, &dir, st.next_op);
                st.next_op = next;
                drop(st);
                if let Err(e) = fire(&ops) {
                    out.note(&format!("background operations stopped: {e}"));
                    state.borrow_mut().background = None;
                }
            }
        }
    };
    let env = Env {
        backend: sim,
        bundle_id,
        out,
        progress,
        pause: &pass,
        simulated_time: true,
    };
    let seen = Seen::default();
    let mut held: Vec<(u64, Client<'_>)> = Vec::new();

    let interactive = script.is_none() && std::io::stdin().is_terminal();
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match &script {
        Some((_, text)) => Box::new(
            text.lines()
                .map(|l| Ok(l.to_string()))
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        None => Box::new(std::io::stdin().lock().lines()),
    };
    let source = script
        .as_ref()
        .map_or("stdin".to_string(), |(f, _)| f.clone());
    let mut exit = Exit::Success;
    let prompt = || {
        if interactive {
            eprint!("sim> ");
            let _ = std::io::stderr().flush();
        }
    };
    prompt();
    for (number, line) in lines.enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return out.fail(&Failure::Usage(format!("{source}: {e}")));
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            prompt();
            continue;
        }
        if script.is_some() {
            out.text_only(&format!("> {trimmed}\n"));
        }
        let parsed = split(trimmed)
            .map_err(|e| Failure::Usage(format!("{source}:{}: {e}", number + 1)))
            .map(Line::try_parse_from);
        let result = match parsed {
            Err(f) => Err(f),
            Ok(Err(e)) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
                let help = e.render().to_string();
                if out.is_json() {
                    eprint!("{help}");
                } else {
                    out.text_only(&help);
                }
                Ok(Exit::Success)
            }
            Ok(Err(e)) => Err(Failure::Usage(format!(
                "{source}:{}: {}",
                number + 1,
                e.render().to_string().trim_end()
            ))),
            Ok(Ok(Line {
                command: SessionCommand::Quit,
            })) => break,
            Ok(Ok(Line { command })) => {
                session_command(&env, sim, &seen, &mut held, &state, &fire, command)
            }
        };
        let code = result.unwrap_or_else(|f| out.fail(&f));
        if code != Exit::Success {
            if exit == Exit::Success {
                exit = code;
            }
            if script.is_some() {
                return exit;
            }
        }
        prompt();
    }
    exit
}

fn session_command<'a>(
    env: &Env<'_>,
    sim: &'a SimBackend,
    seen: &'a Seen,
    held: &mut Vec<(u64, Client<'a>)>,
    state: &RefCell<State>,
    fire: &dyn Fn(&[FileOp]) -> Result<usize, String>,
    command: SessionCommand,
) -> Result<Exit, Failure> {
    let out = env.out;
    match command {
        SessionCommand::Kernel(k) => commands::run(env, &k),
        SessionCommand::Open => {
            let c = Client::open(sim, seen, User::Current).map_err(Failure::open)?;
            let info = ClientInfo::from(c.get_client_info()?);
            held.push((info.client_id, c));
            out.emit(
                "open",
                &format!(
                    "opened client {} (open clients {})\n",
                    info.client_id, info.open_clients
                ),
                json!({ "client_info": info }),
            );
            Ok(Exit::Success)
        }
        SessionCommand::Close { id } => {
            let at = match id {
                Some(id) => held.iter().position(|(i, _)| *i == id),
                None => held.len().checked_sub(1),
            }
            .ok_or_else(|| {
                Failure::Usage(match id {
                    Some(id) => format!("client {id} was not opened in this session"),
                    None => "no client is open in this session (`open` opens one)".into(),
                })
            })?;
            let (id, c) = held.remove(at);
            let code = c.close();
            out.emit(
                "close",
                &format!("closed client {id}: {}\n", Code(code)),
                json!({ "client_id": id, "close": Code(code) }),
            );
            Ok(if code == 0 {
                Exit::Success
            } else {
                Exit::Failure
            })
        }
        SessionCommand::Touch { path } => {
            absolute(&path)?;
            generate(env, sim, seen, fire, &[FileOp::Write(path.clone())], &path)
        }
        SessionCommand::Fileops { n, dir } => {
            absolute(&dir)?;
            let (ops, next) = {
                let st = state.borrow();
                operations(n, &dir, st.next_op)
            };
            state.borrow_mut().next_op = next;
            generate(env, sim, seen, fire, &ops, &dir)
        }
        SessionCommand::Sleep { secs } => {
            (env.pause)(secs);
            out.emit(
                "sleep",
                &format!(
                    "{:.1} s of simulated time passed (now {:.1} s since boot)\n",
                    secs.as_secs_f64(),
                    sim.now().as_secs_f64()
                ),
                json!({ "seconds": secs.as_secs_f64(), "now": sim.now().as_secs_f64() }),
            );
            Ok(Exit::Success)
        }
        SessionCommand::Background { n, dir } => {
            let text = match (n, dir) {
                (0, _) => {
                    state.borrow_mut().background = None;
                    "background operations stopped\n".to_string()
                }
                (n, Some(dir)) => {
                    absolute(&dir)?;
                    let text = format!(
                        "{n} file operation(s) under {} in each simulated second\n",
                        dir.display()
                    );
                    state.borrow_mut().background = Some((n, dir));
                    text
                }
                (_, None) => return Err(Failure::Usage("background N DIR".into())),
            };
            let bg = state.borrow().background.clone();
            out.emit(
                "background",
                &text,
                json!({ "per_second": bg.as_ref().map_or(0, |b| b.0),
                        "dir": bg.map(|b| b.1.display().to_string()) }),
            );
            Ok(Exit::Success)
        }
        SessionCommand::Quit => Ok(Exit::Success),
    }
}

/// Fires the events of `ops`, then prints every counter that changed as `NAME: BEFORE -> AFTER`.
fn generate(
    env: &Env<'_>,
    sim: &SimBackend,
    seen: &Seen,
    fire: &dyn Fn(&[FileOp]) -> Result<usize, String>,
    ops: &[FileOp],
    under: &Path,
) -> Result<Exit, Failure> {
    let sampler = Client::open(sim, seen, User::Current).map_err(Failure::open)?;
    let before = sampler.get_stats()?;
    let events = fire(ops).map_err(Failure::Failed)?;
    let after = sampler.get_stats()?;
    drop(sampler);
    let changes = stats::changes(&before, &after);
    let mut text = format!(
        "{} file operation(s) at {}: {events} FILEOP event(s)\n",
        ops.len(),
        under.display()
    );
    for (name, b, a) in &changes {
        text.push_str(&format!("{name}: {b} -> {a}\n"));
    }
    let changes_json: Vec<_> = changes
        .iter()
        .map(|(name, b, a)| json!({ "counter": name, "before": b, "after": a }))
        .collect();
    env.out.emit(
        "fileops",
        &text,
        json!({ "operations": ops.len(), "events": events, "path": under.display().to_string(),
                "changes": changes_json }),
    );
    Ok(Exit::Success)
}

/// Splits a line into words: whitespace separates, `"..."` and `'...'` quote (`""` is an empty
/// word).
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(split("filter /a b").unwrap(), ["filter", "/a", "b"]);
        assert_eq!(split("filter \"\"").unwrap(), ["filter", ""]);
        assert_eq!(split("touch '/a b/c'").unwrap(), ["touch", "/a b/c"]);
        assert!(split("touch \"/a").is_err());
    }

    #[test]
    fn operations_cycle_and_never_reuse_a_file() {
        let (ops, next) = operations(5, Path::new("/d"), 0);
        assert_eq!(ops[0], FileOp::Write("/d/file0".into()));
        assert_eq!(ops[3], FileOp::Delete("/d/file0.old".into()));
        assert_eq!(ops[4], FileOp::Write("/d/file1".into()));
        assert_eq!(next, 5);
        let (ops, next) = operations(3, Path::new("/d"), next);
        assert_eq!(
            ops,
            [
                FileOp::Read("/d/file1".into()),
                FileOp::Rename("/d/file1".into(), "/d/file1.old".into()),
                FileOp::Delete("/d/file1.old".into()),
            ]
        );
        assert_eq!(next, 8);
    }
}

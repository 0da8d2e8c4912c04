//! The terminal: raw mode and the alternate screen, restored on every way out (return,
//! error, panic), and the loop that feeds key presses and background reports to `update`
//! and draws after each batch.

use std::io::{self, Stdout};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use super::app::{Action, App};
use super::keys::map_key;
use super::render::draw;

/// Leaves raw mode and the alternate screen. Safe to call more than once.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, so an early return or error leaves it usable.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// A panic restores the terminal before the message is printed, so the message is
/// readable and the shell usable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Runs the TUI on the terminal until the user quits. Returns why the capture could not
/// be opened, if it could not (the TUI showed it; the caller decides the exit code).
pub fn run(path: &Path) -> io::Result<Option<String>> {
    install_panic_hook();
    enable_raw_mode()?;
    let _guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let (mut app, rx) = App::open(path);
    let size = terminal.size()?;
    app.update(Action::Resize {
        width: size.width,
        height: size.height,
    });
    event_loop(&mut terminal, &mut app, &rx)?;
    Ok(app.failed.clone())
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    rx: &Receiver<Action>,
) -> io::Result<()> {
    let mut dirty = true;
    loop {
        // Background reports first: all that arrived, then one draw.
        while let Ok(a) = rx.try_recv() {
            app.update(a);
            dirty = true;
        }
        if dirty {
            terminal.draw(|f| draw(f, app))?;
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        // Short waits while work is under way, so its reports show promptly.
        let wait = if app.busy() {
            Duration::from_millis(30)
        } else {
            Duration::from_millis(250)
        };
        if event::poll(wait)? {
            // Everything typed so far, then one draw: held-down keys never queue up frames.
            loop {
                match event::read()? {
                    Event::Key(k) => {
                        if let Some(a) = map_key(app, k) {
                            app.update(a);
                            // What the key asked for (an export's write), then its report.
                            for effect in app.take_effects() {
                                app.update(effect.perform());
                            }
                            dirty = true;
                        }
                    }
                    Event::Resize(width, height) => {
                        app.update(Action::Resize { width, height });
                        terminal.autoresize()?;
                        dirty = true;
                    }
                    _ => {}
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    }
}
